"""vllm(REF, ...) takes vLLM's engine arguments under their own names (collabdsl/vllm_args.py):
an unknown name is E112 at the keyword with the close names, a reserved one E112 with the
reason, a value of the wrong type E109 at the value. The table equals the installed vLLM's
EngineArgs: tests/runtime/test_vllm_exec.py (vLLM step)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from collabdsl import vllm_args
from collabdsl.compiler import check_path, compile_path


def _diags(tmp_path, kwargs: str, extra: str = "", models=None):
    p = tmp_path / "v.collab"
    p.write_text(f'program t "t"\nmodel m = vllm("org/m", {kwargs}) trainable\n'
                 'data d = load("builtin:science-mc", split: "test")\n' + extra
                 + 'for x in d { x.a = m.generate(x.question) }\n')
    res = check_path(str(p)) if models is None else compile_path(str(p), None, models)
    return [(d.code, d.span.line, d.span.col, d.message) for d in res.diagnostics if d.is_error]


def test_engine_arguments_are_accepted_under_their_own_name(tmp_path):
    assert _diags(tmp_path, 'tensor_parallel_size: 2, pipeline_parallel_size: 1, data_parallel_size: 1, '
                  'quantization: "fp8", enable_prefix_caching: true, max_num_seqs: 64, max_loras: 2, '
                  'max_lora_rank: 32, enable_lora: true, enforce_eager: true, kv_cache_dtype: "fp8", '
                  'cpu_offload_gb: 2, max_num_batched_tokens: 4096, ignore_patterns: ["*.pt"], '
                  'gpu_memory_utilization: 0.8, max_model_len: 2048') == []
    assert len(vllm_args.ENGINE_ARGS) > 200  # every field of vLLM 0.32's EngineArgs


def test_an_unknown_engine_argument_is_E112_with_the_close_names(tmp_path):
    (e,) = _diags(tmp_path, "tensor_paralel_size: 2")
    assert e[:3] == ("E112", 2, 25)
    assert "vllm() has no option 'tensor_paralel_size'" in e[3] and "did you mean 'tensor_parallel_size'" in e[3]
    (e,) = _diags(tmp_path, "swap_space: 4")  # gone from vLLM 0.32's EngineArgs
    assert e[0] == "E112" and "EngineArgs" in e[3] and "did you mean" not in e[3]


@pytest.mark.parametrize("name", sorted(vllm_args.RESERVED))
def test_the_names_collab_sets_are_reserved(tmp_path, name):
    (e,) = _diags(tmp_path, f"{name}: \"x\"")
    assert e[:3] == ("E112", 2, 25) and f"vllm() option '{name}' is set by collab" in e[3]


@pytest.mark.parametrize("kw, text", [
    ("tensor_parallel_size: \"2\"", 'tensor_parallel_size: expected an integer, got "2"'),
    ("tensor_parallel_size: 0", "tensor_parallel_size 0 is not >= 1"),
    ("enable_prefix_caching: 1", "enable_prefix_caching: expected true or false, got 1"),
    ("kv_cache_dtype: \"fp9\"", 'kv_cache_dtype: expected one of "auto"'),
    ("max_lora_rank: 12", "max_lora_rank: expected one of 1, 8, 16"),
    ("quantization: 4", "quantization: expected a text, got 4"),
    ("ignore_patterns: 3", "ignore_patterns: expected a text or a list, got 3"),
    ("hf_token: 3", "hf_token: expected true or false or a text, got 3"),
])
def test_engine_argument_values_are_type_checked(tmp_path, kw, text):
    (e,) = _diags(tmp_path, kw)
    assert e[0] == "E109" and e[1] == 2 and e[2] == 25 + len(kw.split(":")[0]) + 2 and text in e[3], e


def test_a_lora_training_of_an_engine_without_lora_is_E112(tmp_path):
    (e,) = _diags(tmp_path, "enable_lora: false",
                  'train m sft for x in d { input: x.question, target: x.answer }\n')
    assert e[:2] == ("E112", 4) and "enable_lora: false" in e[3]


def test_engine_arguments_are_kept_by_a_vllm_rebinding_and_refused_by_another(tmp_path):
    p = tmp_path / "v.collab"
    p.write_text('program t "t"\nmodel m = vllm("org/m", tensor_parallel_size: 2, enforce_eager: true) frozen\n'
                 'data d = load("builtin:science-mc", split: "test")\nfor x in d { x.a = m.generate(x.question) }\n')
    res = compile_path(str(p), None, {"m": "vllm:org/other"})
    assert not res.errors and res.models["m"]["kwargs"] == {"tensor_parallel_size": 2, "enforce_eager": True}
    res = compile_path(str(p), None, {"m": "hf:org/other"})
    assert [(d.code, d.span.line) for d in res.errors] == [("E112", 2), ("E112", 2)]
    assert "does not apply to a hf() model" in res.errors[0].message


def test_lint_does_not_import_vllm(tmp_path):
    p = tmp_path / "v.collab"
    p.write_text('program t "t"\nmodel m = vllm("org/m", tensor_parallel_size: 2) frozen\n'
                 'data d = load("builtin:science-mc", split: "test")\nfor x in d { x.a = m.generate(x.question) }\n')
    code = ("import sys; from collabdsl.compiler import check_path; r = check_path(sys.argv[1]); "
            "assert not r.errors; assert 'vllm' not in sys.modules and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code, str(p)], check=True)
