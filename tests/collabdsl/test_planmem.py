"""`collab plan`'s memory column (issue 11): each local model step's expected peak, from the
model's config and the runtime's own formulas (collabdsl.memsize), without loading anything."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from collabdsl import memsize, planmem
from collabdsl import plan as P
from collabdsl.compiler import compile_path

ROOT = Path(__file__).resolve().parents[2]
GB = 2**30

PROGRAM = """
program mem "a generation and two trainings"
param batch: int = 4
model m = embedded("smollm2-135m-instruct") trainable max_tokens 32
model fu = embedded("smollm2-135m-instruct") trainable max_tokens 32
model half = embedded("smollm2-135m-instruct") trainable max_tokens 32 dtype "bf16"
model remote = api("openai/gpt-4o-mini")
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = m.generate(x.question) }
for x in d { x.far = remote.generate(x.question) }
train m sft for x in d { input: x.question, target: x.answer, max_steps: 1, batch_size: batch }
train fu sft for x in d { input: x.question, target: x.answer, max_steps: 1, batch_size: batch, full: true }
train half sft for x in d { input: x.question, target: x.answer, max_steps: 1, batch_size: batch, full: true }
"""


def _plan(tmp_path, text=PROGRAM, sets=None):
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps({"question": f"q{i}", "answer": "a"}) + "\n"
                                                 for i in range(8)))
    (tmp_path / "prog.collab").write_text(text)
    res = compile_path(str(tmp_path / "prog.collab"), sets)
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return P.plan(res.graph)


def test_local_steps_get_a_peak_and_remote_ones_none(tmp_path):
    p = _plan(tmp_path)
    gen, far = [n for n in p.nodes if n.kind == "generate"]
    lora, full, half = [n for n in p.nodes if n.kind == "train"]
    assert far.memory is None  # an API model holds no local memory
    weights = memsize.parameters(memsize.model_dims(planmem.model_config({"backend": "embedded",
                                                                          "ref": "smollm2-135m-instruct"})))
    assert 130e6 < weights < 140e6  # SmolLM2-135M
    assert planmem.RUNTIME_BYTES + 4 * weights < gen.memory < planmem.RUNTIME_BYTES + 4 * weights + 0.2 * GB
    # all weights trained: fp32 weights, gradients and Adam's 2 moments; LoRA: the frozen base
    assert full.memory - lora.memory > 2.5 * weights
    assert half.memory < full.memory  # bf16 autocast halves the activations (the fp32 state stays)
    text = P.render_text(p)
    assert "memory" in text and f"~{full.memory / GB:.1f} GB" in text
    assert json.loads(p.to_json())["nodes"][[n.id for n in p.nodes].index(full.id)]["memory"] == int(full.memory)
    bigger = _plan(tmp_path, sets={"batch": "16"})
    assert next(n.memory for n in bigger.nodes if n.kind == "train") > lora.memory  # a param moves it


def test_an_hf_model_is_sized_from_its_config_and_unknown_ones_are_left_blank(tmp_path):
    folder = tmp_path / "tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 64, "intermediate_size": 128,
                                                    "num_hidden_layers": 2, "num_attention_heads": 4,
                                                    "vocab_size": 1000}))
    text = PROGRAM.replace('embedded("smollm2-135m-instruct") trainable max_tokens 32\n',
                           f'hf("{folder}") trainable max_tokens 32\n', 1)
    p = _plan(tmp_path, text)
    gen = next(n for n in p.nodes if n.kind == "generate")
    assert planmem.RUNTIME_BYTES < gen.memory < planmem.RUNTIME_BYTES + 50 * 2**20
    hub = PROGRAM.replace('embedded("smollm2-135m-instruct") trainable max_tokens 32\n',
                          'hf("no-such-org/no-such-model") trainable max_tokens 32\n', 1)
    gen = next(n for n in _plan(tmp_path, hub).nodes if n.kind == "generate")
    assert gen.memory is None  # not in the cache: never downloaded to be sized


def test_plan_with_memory_never_imports_torch(tmp_path):
    (tmp_path / "rows.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    (tmp_path / "prog.collab").write_text(PROGRAM)
    code = textwrap.dedent(f"""
        import sys
        from collabdsl.compiler import compile_path
        from collabdsl import plan as P
        p = P.plan(compile_path({str(tmp_path / "prog.collab")!r}).graph)
        P.render_text(p)
        bad = [m for m in ("litellm", "torch", "transformers", "trl", "vllm", "numpy") if m in sys.modules]
        print(sum(n.memory is not None for n in p.nodes), bad)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "4 []"


def test_the_programs_peak_adds_the_other_loaded_models(tmp_path):
    """The total: the largest step plus the weights of the other local models kept loaded
    (roles bound to one model share it; each fully fine-tuned version is its own)."""
    p = _plan(tmp_path)
    peak = p.totals["memory"]
    biggest = max((n for n in p.nodes if n.memory), key=lambda n: n.memory)
    assert peak["largest_step"] == biggest.id and peak["step_bytes"] == int(biggest.memory)
    # m, fu (fp32, one binding) and half (bf16: another load) + two full-FT versions (fu, half)
    assert peak["other_models"] == 3
    assert peak["bytes"] == peak["step_bytes"] + peak["other_bytes"]
    assert f"memory: peak ~{peak['bytes'] / GB:.1f} GB" in P.render_text(p)
