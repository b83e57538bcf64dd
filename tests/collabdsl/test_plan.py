"""``collab plan`` estimates, on IR graphs built by hand after ``collabdsl/ir.py``."""
from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import networkx as nx
import pytest

from collabdsl import ast as A
from collabdsl import plan as P

S = A.Span("t.collab", 1, 1, 1, 2)
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "Question: {q}\nAnswer:"  # 16 characters without the slot


def nm(x):
    return A.Name(S, A.Ident(x))


def at(obj, field):
    return A.Attr(S, nm(obj), A.Ident(field))


def ask():
    return A.Call(S, nm("ask"), [at("x", "question")], [])


class G_:
    """A tiny builder that keeps ``order`` and fills the contract's node attributes."""

    def __init__(self, models=None, params=None):
        self.G = nx.DiGraph()
        self.G.graph.update(name="demo", description="d", path=str(ROOT / "programs" / "none.collab"),
                            params=params or {}, prompts={"ask": {"slots": ["q"], "template": TEMPLATE}},
                            kbs=[], order=[],
                            models=models or {
                                "small": {"backend": "embedded", "ref": "smollm2-135m-instruct", "kwargs": {},
                                          "options": {"max_tokens": 32}},
                                "large": {"backend": "api", "ref": "openai/gpt-4o-mini", "kwargs": {},
                                          "options": {}}})

    def add(self, nid, kind, **attrs):
        base = dict(kind=kind, label=attrs.pop("label", f"{kind} {nid}"), span="t.collab:1:1", parent=None,
                    data=None, model=None, version=None, reads=[], out=None, when=[], expr=None, options={})
        base.update(attrs)
        self.G.add_node(nid, **base)
        self.G.graph["order"].append(nid)
        return self


def by_id(p):
    return {n.id: n for n in p.nodes}


def test_rows_calls_and_loops():
    b = G_(params={"n": 40, "rounds": 3})
    b.add("l", "load", out="train", options={"source": "hf:some/dataset", "limit": "n"})
    b.add("s", "split", data="train", out=["a", "b"], options={"ratio": 0.25})
    b.add("loop", "loop", options={"count": "rounds", "var": None})
    b.add("gen", "generate", data="a", model="large", parent="loop", out="t", expr={"prompt": ask(), "var": "x"},
          options={"max_tokens": 10})
    b.add("smp", "sample", data="a", model="small", parent="loop", out="d", expr={"prompt": ask(), "var": "x"},
          options={"k": 5})
    b.add("ch", "choose", data="b", model="small", out="c", expr={"prompt": ask(), "var": "x"})
    p = P.plan(b.G)
    n = by_id(p)
    assert n["l"].rows == P.Est(40) and n["s"].rows == P.Est(40)
    assert n["gen"].rows == P.Est(10) and n["ch"].rows == P.Est(30)
    assert n["loop"].iterations == P.Est(3)
    assert n["gen"].calls == P.Est(30)  # 10 rows x 3 iterations
    assert n["smp"].calls == P.Est(150)  # 10 rows x k 5 x 3
    assert n["ch"].calls == P.Est(30)
    # tokens: (template + one filled slot) / 4 per call; completion = max_tokens (node, then model)
    per_prompt = math.ceil((len(TEMPLATE) - 3 + P.DEFAULT_SLOT_CHARS) / P.CHARS_PER_TOKEN)
    assert n["gen"].prompt_tokens.value == 30 * per_prompt
    assert n["gen"].completion_tokens.value == 30 * 10
    assert n["smp"].completion_tokens.value == 150 * 32
    assert n["ch"].prompt_tokens.value == 30 * math.ceil(
        (len(TEMPLATE) - 3 + P.DEFAULT_SLOT_CHARS + P.CHOOSE_OPTION_CHARS) / P.CHARS_PER_TOKEN)
    assert n["ch"].completion_tokens.value == 30
    assert p.totals["calls"] == {"value": 210, "estimated": False}
    assert p.totals["by_model"]["small"]["calls"]["value"] == 180


def test_api_cost_from_the_offline_price_table():
    table, path = P._price_table()
    if table is None:
        pytest.skip("litellm not installed")
    assert Path(path).name == "model_prices_and_context_window_backup.json"
    b = G_()
    b.add("l", "load", out="d", options={"source": "x.jsonl", "limit": 100})
    b.add("gen", "generate", data="d", model="large", out="t", expr={"prompt": ask(), "var": "x"})
    p = P.plan(b.G)
    gen = by_id(p)["gen"]
    inp, outp = P.price_of("openai/gpt-4o-mini")
    assert inp > 0 and outp > 0
    assert gen.priced and gen.cost == pytest.approx(gen.prompt_tokens.value * inp
                                                    + gen.completion_tokens.value * outp)
    assert gen.completion_tokens.value == 100 * P.DEFAULT_MAX_TOKENS
    assert p.totals["cost_usd"] == pytest.approx(gen.cost, rel=1e-4)
    assert P.price_of("gpt-4o-mini") == (inp, outp)
    assert P.price_of("no-such-provider/no-such-model") is None


def test_plan_never_imports_litellm():
    code = textwrap.dedent("""
        import sys
        import networkx as nx
        from collabdsl import plan as P
        G = nx.DiGraph(name="x", description="", path="", params={}, prompts={}, kbs=[], order=["g"],
                       models={"m": {"backend": "api", "ref": "openai/gpt-4o-mini", "kwargs": {}, "options": {}}})
        G.add_node("g", kind="generate", label="g", parent=None, data="d", model="m", options={}, expr=None)
        p = P.plan(G)
        P.render_text(p)
        bad = [m for m in ("litellm", "torch", "transformers", "trl", "vllm") if m in sys.modules]
        print(p.nodes[0].cost is not None, bad)
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("[]")


def test_no_litellm_means_cost_na(monkeypatch):
    P._price_table.cache_clear()
    monkeypatch.setattr(P.importlib.util, "find_spec", lambda name: None)
    try:
        b = G_()
        b.add("l", "load", out="d", options={"source": "x.jsonl", "limit": 10})
        b.add("gen", "generate", data="d", model="large", out="t", expr={"prompt": ask(), "var": "x"})
        p = P.plan(b.G)
        assert by_id(p)["gen"].cost is None
        assert p.totals["cost_usd"] is None and p.totals["cost_unknown_nodes"] == ["gen"]
        text = P.render_text(p)
        assert "n/a" in text and "litellm is not installed" in text
        assert json.loads(p.to_json())["nodes"][1]["cost_usd"] is None
    finally:
        monkeypatch.undo()
        P._price_table.cache_clear()


def test_unknown_server_price_is_na_and_local_is_free():
    b = G_(models={"srv": {"backend": "server", "ref": "http://u:secretpw@127.0.0.1:8000/v1?api_key=sk-abc",
                           "kwargs": {"model": "my-local-model", "api_key": "sk-abc"}, "options": {}},
                   "loc": {"backend": "hf", "ref": "HuggingFaceTB/SmolLM2-360M-Instruct", "kwargs": {},
                           "options": {}},
                   "col": {"backend": "column", "ref": "rationale", "kwargs": {}, "options": {}}})
    b.add("l", "load", out="d", options={"source": "f.jsonl", "limit": 10})
    b.add("a", "generate", data="d", model="srv", out="t", expr={"prompt": ask(), "var": "x"})
    b.add("b", "generate", data="d", model="loc", out="u", expr={"prompt": ask(), "var": "x"})
    b.add("c", "generate", data="d", model="col", out="v", expr={"prompt": ask(), "var": "x"})
    p = P.plan(b.G)
    n = by_id(p)
    assert n["a"].priced and n["a"].cost is None
    assert not n["b"].priced and n["b"].cost == 0.0
    assert n["c"].calls == P.Est(0)
    text = P.render_text(p) + p.to_json()
    assert "secretpw" not in text and "sk-abc" not in text
    assert "server:http://127.0.0.1:8000/v1?api_key=***#my-local-model" in P.render_text(p)


def test_safe_ref():
    assert P.safe_ref("https://user:pass@host/v1") == "https://host/v1"
    assert P.safe_ref("http://h/v1?key=abc&x=1") == "http://h/v1?key=***&x=1"
    assert P.safe_ref("openai/gpt-4o") == "openai/gpt-4o"


def test_training_steps():
    b = G_(params={"ep": 2})
    b.add("l", "load", out="d", options={"source": "f.jsonl", "limit": 50})
    b.add("t1", "train", data="d", model="small", out="small",
          options={"objective": "sft", "epochs": "ep", "batch_size": 4, "grad_accum": 2})
    b.add("t2", "train", data="d", model="small", out="small", options={"objective": "sft", "max_steps": 7})
    b.add("t3", "train", data="d", model="small", out="mt", options={"objective": "multitask"},
          expr={"entries": {"tasks": A.ListLit(S, [A.Num(S, 1), A.Num(S, 2), A.Num(S, 3)])}, "var": "x"})
    b.add("loop", "loop", options={"until": A.Bool(S, False), "max": 4})
    b.add("t4", "train", data="d", model="small", out="small", parent="loop", options={"objective": "dpo"})
    p = P.plan(b.G)
    n = by_id(p)
    assert n["t1"].train_examples == P.Est(50) and n["t1"].train_steps == P.Est(13)  # ceil(50*2/8)
    assert n["t2"].train_steps == P.Est(7)
    assert n["t3"].train_examples == P.Est(150)  # 3 tasks per row
    assert n["t3"].train_steps == P.Est(13)  # ceil(50/4), trainer defaults: a batch holds every task of its rows
    assert n["t4"].iterations == P.Est(4, exact=False)
    assert n["t4"].train_steps == P.Est(13 * 4, exact=False)
    assert n["loop"].iterations == P.Est(4, exact=False)
    assert p.totals["train_steps"] == {"value": 13 + 7 + 13 + 52, "estimated": True}
    assert "13 steps" in P.render_text(p)


def test_estimates_are_marked():
    b = G_()
    b.add("l", "load", out="d", options={"source": "hf:x/y"})  # unknown size
    b.add("f", "filter", data="d", out="e")
    b.add("x", "expand", data="e", out="big",
          expr={"items": A.Call(S, nm("items"), [nm("z")], [A.KwArg(S, A.Ident("max"), A.Num(S, 2))])})
    b.add("t", "take", data="big", out="few", options={"n": 5})
    b.add("c", "concat", data="few", out=["both"], label="concat few, big")
    b.add("g", "gate", data="d", out="_g1")
    b.add("m", "generate", data="d", model="small", out="o", when=["_g1"], expr={"prompt": ask(), "var": "x"})
    p = P.plan(b.G)
    n = by_id(p)
    assert n["l"].rows == P.Est(P.DEFAULT_ROWS, False)
    assert n["f"].rows == P.Est(P.DEFAULT_ROWS, False)
    assert n["x"].rows.value == 2 * P.DEFAULT_ROWS and not n["x"].rows.exact
    assert n["t"].rows.value == 5
    assert n["c"].rows.value == 5 + 2 * P.DEFAULT_ROWS
    assert not n["m"].calls.exact
    d = n["m"].to_dict()
    assert "calls" in d["estimated"] and "rows" in d["estimated"]
    text = P.render_text(p)
    assert f"~{P.DEFAULT_ROWS:,}" in text
    assert "assumed 1000 rows" in text
    assert p.assumptions["default_rows_used"] is True


def test_row_counts_from_the_runtime_when_cheap(monkeypatch):
    seen = []

    def count_rows(source, split=None, **kw):
        seen.append((source, split))
        return 123

    monkeypatch.setattr(P, "_count_rows_fn", lambda: count_rows)
    b = G_()
    b.add("a", "load", out="d", options={"source": "builtin:science-mc", "split": "test"})
    b.add("b", "load", out="e", options={"source": "builtin:science-mc", "split": "train", "limit": 50})
    b.add("c", "load", out="f", options={"source": "hf:org/name"})
    n = by_id(P.plan(b.G))
    assert n["a"].rows == P.Est(123)
    assert n["b"].rows == P.Est(50)
    assert n["c"].rows == P.Est(P.DEFAULT_ROWS, False)
    assert ("builtin:science-mc", "test") in seen and all(s != "hf:org/name" for s, _ in seen)


def test_light_module_check(tmp_path, monkeypatch):
    pkg = tmp_path / "fakepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "light.py").write_text("import json\nfrom pathlib import Path\n"
                                  "def f():\n    import torch\n")
    (pkg / "heavy.py").write_text("import json\ntry:\n    import datasets\nexcept ImportError:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert P._light_module("fakepkg.light") is True
    assert P._light_module("fakepkg.heavy") is False
    assert P._light_module("fakepkg.missing") is False


def test_plan_json_is_stable_and_complete():
    b = G_()
    b.add("l", "load", out="d", options={"source": "f.jsonl", "limit": 3})
    b.add("m", "generate", data="d", model="large", out="o", expr={"prompt": ask(), "var": "x"})
    a, c = P.plan(b.G).to_json(), P.plan(b.G).to_json()
    assert a == c
    data = json.loads(a)
    assert [n["id"] for n in data["nodes"]] == ["l", "m"]
    assert set(data["totals"]) >= {"calls", "prompt_tokens", "completion_tokens", "cost_usd", "train_steps",
                                   "train_examples", "by_model"}
    assert data["models"]["large"] == {"backend": "api", "ref": "openai/gpt-4o-mini", "gpus": 0}


def test_gpus_each_role_needs(tmp_path):
    """vLLM: tensor x pipeline x data parallel size; transformers 1 (0 on "cpu"); api, server,
    column 0; times the model option replicas; the total counts shared engines once."""
    from collabdsl.compiler import compile_path

    p = tmp_path / "g.collab"
    p.write_text('program t "t"\n'
                 'model big = vllm("org/m", tensor_parallel_size: 2, pipeline_parallel_size: 2, '
                 'data_parallel_size: 2) frozen\n'
                 'model one = vllm("org/n") frozen\n'
                 'model s = hf("org/s") frozen device "cpu"\n'
                 'model e = embedded("smollm2-135m-instruct") frozen\n'
                 'model e2 = embedded("smollm2-135m-instruct") frozen\n'
                 'model a = api("openai/gpt-4o-mini")\n'
                 'model srv = server("http://127.0.0.1:1/v1", model: "m")\n'
                 'data d = load("builtin:science-mc", split: "test")\n'
                 'for x in d { x.a = big.generate(x.question)\n x.b = one.generate(x.question)\n'
                 ' x.c = s.generate(x.question)\n x.d = e.generate(x.question)\n x.f = e2.generate(x.question)\n'
                 ' x.g = a.generate(x.question)\n x.h = srv.generate(x.question) }\n')
    res = compile_path(str(p))
    assert not res.errors, [d.message for d in res.diagnostics]
    plan = P.plan(res.graph)
    data = json.loads(plan.to_json())
    assert {r: m["gpus"] for r, m in data["models"].items()} == {
        "big": 8, "one": 1, "s": 0, "e": 1, "e2": 1, "a": 0, "srv": 0}
    assert data["totals"]["gpus"] == 10  # e and e2 share one engine
    text = P.render_text(plan)
    assert "model big: vllm:org/m, 8 GPUs on a GPU machine" in text
    assert "model one: vllm:org/n, 1 GPU on a GPU machine" in text
    assert "gpus: 10 when every model is loaded at once" in text
    spec = dict(res.graph.graph["models"]["big"])
    spec["options"] = {**spec["options"], "replicas": 3}  # the model option replicas (Ray replicas)
    assert P.gpus_needed(spec) == 24


def test_plan_of_a_compiled_program(tmp_path):
    from collabdsl.compiler import compile_path

    src = tmp_path / "p.collab"
    src.write_text(textwrap.dedent('''
        # Paper: none
        program p "plan test"
        param n: int = 12
        model small = embedded("smollm2-135m-instruct") trainable max_tokens 32
        model large = api("openai/gpt-4o-mini") max_tokens 64
        data train = load("builtin:science-mc", split: "train", limit: n)
        data a, b = split(train, 0.5, seed: 0)
        prompt ask(q) = "Question: {q}. Answer:"
        repeat 2 {
          for x in a { x.t = large.generate(ask(x.question)) }
          train small sft for x in a { input: x.question, target: x.t, epochs: 2, batch_size: 2 }
        }
        eval results for x in b metrics accuracy {
          gold x.answer
          "small" = small.choose(ask(x.question), options: x.options)
        }
    '''))
    r = compile_path(str(src))
    assert r.graph is not None, r.diagnostics
    p = P.plan(r.graph)
    kinds = {n.kind: n for n in p.nodes}
    assert kinds["generate"].calls == P.Est(12)  # 6 rows x 2 iterations
    assert kinds["generate"].completion_tokens.value == 12 * 64
    assert kinds["train"].train_steps == P.Est(12)  # ceil(6*2/2) x 2
    assert kinds["choose"].calls == P.Est(6)


def test_secret_params_are_redacted():
    b = G_(params={"api_key": "sk-xyz", "n": 3})
    p = P.plan(b.G)
    assert p.params == {"api_key": "[REDACTED]", "n": 3}
    assert "sk-xyz" not in P.render_text(p) + p.to_json()
