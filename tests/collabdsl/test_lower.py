"""Lowering to the IR graph (collabdsl.lower, contract in collabdsl.ir)."""
from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from collab_testing import HEAD, LINT, PROGRAMS, ROOT

from collabdsl.compiler import compile_path
from collabdsl.diagnostics import render_all
from collabdsl.ir import KINDS, MODEL_OPS


def _all_programs() -> list[Path]:
    """Every program that compiles: fixtures, the paper programs, examples, pass fixtures."""
    found = sorted(PROGRAMS.glob("*.collab")) + sorted((ROOT / "programs").glob("*.collab"))
    found += sorted((ROOT / "examples").glob("*.collab")) + sorted(LINT.glob("*_pass.collab"))
    return found


def _graph(result):
    assert result.graph is not None, render_all(result.diagnostics, result.sources)
    return result.graph


def _nodes(G, kind=None, **attrs):
    """Node ids in run order, of ``kind`` and with the given attribute values."""
    return [n for n in G.graph["order"] if (kind is None or G.nodes[n]["kind"] == kind)
            and all(G.nodes[n].get(k) == v for k, v in attrs.items())]


def _check_contract(G) -> None:
    order = G.graph["order"]
    assert nx.is_directed_acyclic_graph(G)
    assert len(order) == len(set(order)) == G.number_of_nodes()
    pos = {n: i for i, n in enumerate(order)}
    for a, b, data in G.edges(data=True):
        assert pos[a] < pos[b], f"{a} -> {b} ({data}) goes against the run order"
        assert data["kind"] in ("data", "version", "order")
    for n in order:
        d = G.nodes[n]
        assert d["kind"] in KINDS
        for key in ("label", "span", "parent", "data", "model", "version", "reads", "out", "when",
                    "expr", "options"):
            assert key in d, (n, key)
        if d["parent"] is not None:
            assert G.nodes[d["parent"]]["kind"] == "loop" and n in G.nodes[d["parent"]]["body"]
        if d["version"] is not None:
            assert G.nodes[d["version"]]["kind"] == "train"
            assert G.has_edge(d["version"], n) and G.edges[d["version"], n]["kind"] == "version"
        for g in d["when"]:
            gate = [m for m in order if G.nodes[m]["kind"] == "gate" and G.nodes[m]["out"] == g.lstrip("!")]
            assert gate and pos[gate[0]] < pos[n]
    for loop in _nodes(G, "loop"):
        body = G.nodes[loop]["body"]
        assert body == [n for n in order if G.nodes[n]["parent"] == loop]
        assert all(pos[loop] < pos[n] for n in body)


@pytest.mark.parametrize("path", _all_programs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_program_lowers_to_an_acyclic_graph_in_run_order(path):
    G = _graph(compile_path(str(path)))
    _check_contract(G)
    assert G.graph["path"] == str(path)
    assert G.number_of_nodes() > 0


def test_graph_attributes(build):
    G = _graph(build(HEAD + 'kb notes\nfor x in train { x.a = small.generate(p(x.question)) notes.write(x.a) }\n'))
    assert G.graph["name"] == "t" and G.graph["description"] == "test"
    assert G.graph["prompts"] == {"p": {"slots": ["q"], "template": "Q: {q}"}}
    assert G.graph["kbs"] == ["notes"]
    assert G.graph["params"] == {}
    assert set(G.graph["models"]) == {"small", "large"}
    assert G.graph["models"]["small"]["backend"] == "embedded" and G.graph["models"]["small"]["trainable"]
    assert G.graph["models"]["large"]["trainable"] is False


# ---------------------------------------------------------------------- row code
def test_model_calls_are_nodes_that_write_a_column(build):
    G = _graph(build(HEAD + '''for x in train {
  draft = small.generate(p(x.question), temperature: 0.0, max_tokens: 16)
  x.score = large.score(p(draft), range: 0..1, on_parse_error: drop)
  x.pick = small.choose(p(x.question), options: x.options, confidence: option_prob)
  x.many = small.sample(p(x.question), k: 3)
}
'''))
    gen, score, choose, sample = (_nodes(G, k)[0] for k in ("generate", "score", "choose", "sample"))
    assert G.nodes[gen]["out"].endswith("draft") and G.nodes[gen]["options"] == {"temperature": 0.0,
                                                                              "max_tokens": 16}
    assert G.nodes[gen]["reads"] == ["question"] and G.nodes[gen]["data"] == "train"
    assert G.nodes[score]["out"] == "score" and G.nodes[score]["options"]["range"] == (0, 1)
    assert G.nodes[score]["options"]["on_parse_error"] == "drop"
    assert G.nodes[score]["reads"] == [G.nodes[gen]["out"]]  # the local is a hidden column
    assert G.has_edge(gen, score)
    assert G.nodes[choose]["options"] == {"confidence": "option_prob"}
    assert sorted(G.nodes[choose]["reads"]) == ["options", "question"]
    assert "options" in G.nodes[choose]["expr"] and G.nodes[sample]["options"]["k"] == 3
    assert all(G.nodes[n]["model"] in ("small", "large") for n in _nodes(G) if G.nodes[n]["kind"] in MODEL_OPS)


def test_gates_and_when(build):
    G = _graph(build(HEAD + '''param p0: float = 0.5
for x in train {
  x.g = small.choose(p(x.question), options: x.options, confidence: option_prob)
  if x.g.confidence > p0 {
    x.final = x.g.answer
  } else if x.g.confidence > 0.1 {
    x.final = large.choose(p(x.question), options: x.options)
  } else {
    x.final = large.generate(p(x.question))
  }
  x.after = x.final
}
'''))
    outer, inner = _nodes(G, "gate")
    g1, g2 = G.nodes[outer]["out"], G.nodes[inner]["out"]
    assert G.nodes[outer]["reads"] == ["g"] and G.nodes[outer]["when"] == []
    assert G.nodes[inner]["when"] == ["!" + g1]  # `else if` is a gate on the else rows
    compute = _nodes(G, "compute", out="final")[0]
    assert G.nodes[compute]["when"] == [g1]
    assert G.nodes[_nodes(G, "choose", model="large")[0]]["when"] == ["!" + g1, g2]
    assert G.nodes[_nodes(G, "generate")[0]]["when"] == ["!" + g1, "!" + g2]
    after = _nodes(G, "compute", out="after")[0]
    assert G.nodes[after]["when"] == []
    # the three writers of x.final all flow into the read after the gate
    writers = [n for n in G.predecessors(after) if G.nodes[n]["out"] == "final"]
    assert len(writers) == 3
    assert G.has_edge(outer, compute) and G.has_edge(outer, inner)


def test_step_is_inlined_with_the_callers_data(build):
    G = _graph(build(HEAD + '''param p0: float = 0.5
data test = load("builtin:science-mc", split: "test")
step small4large(x) {
  guess = small.choose(p(x.question), options: x.options, confidence: option_prob)
  if guess.confidence > p0 {
    return large.choose(p(x.question + guess.answer), options: x.options)
  }
  return large.choose(p(x.question), options: x.options)
}
for x in train { x.t = small4large(x).answer }
for y in test { y.t = small4large(y) }
'''))
    chooses = _nodes(G, "choose")
    assert [G.nodes[n]["data"] for n in chooses] == ["train"] * 3 + ["test"] * 3
    assert [G.nodes[n]["model"] for n in chooses] == ["small", "large", "large"] * 2
    gate = _nodes(G, "gate")[0]
    assert G.nodes[chooses[1]]["when"] == [G.nodes[gate]["out"]]
    assert G.nodes[chooses[2]]["when"] == ["!" + G.nodes[gate]["out"]]
    # both returns write the step's result column, which the caller's compute reads
    ret = G.nodes[chooses[1]]["out"]
    assert G.nodes[chooses[2]]["out"] == ret
    t = _nodes(G, "compute", out="t", data="train")[0]
    assert G.nodes[t]["reads"] == [ret]
    # a second call site gets its own columns
    assert G.nodes[chooses[4]]["out"] != ret and G.nodes[chooses[4]]["expr"]["var"] == "y"


def test_models_and_kbs_passed_to_steps(build):
    G = _graph(build(HEAD + '''kb notes
step ask(m, x) { return m.generate(p(x.question)) }
step ask_twice(m, k, x) {
  hint = k.retrieve(x.question, by: text, top: 2)
  return ask(m, x) + hint
}
for x in train { x.a = ask_twice(large, notes, x)  x.b = ask(small, x) }
'''))
    gens = _nodes(G, "generate")
    assert [G.nodes[n]["model"] for n in gens] == ["large", "small"]
    (ret,) = _nodes(G, "retrieve")
    assert G.nodes[ret]["options"] == {"kb": "notes", "top": 2, "by": "text"}


def test_kb_write_flows_into_later_retrieval(build):
    G = _graph(build(HEAD + '''kb notes
for x in train { notes.write(x.question, key: x.answer) }
for x in train { x.k = notes.retrieve(x.question, by: key) }
'''))
    (w,) = _nodes(G, "kb_write")
    (r,) = _nodes(G, "retrieve")
    assert G.nodes[w]["out"] == "notes" and G.has_edge(w, r)
    assert G.nodes[r]["options"]["top"] == 1  # the default
    assert G.nodes[r]["options"]["by"] == "key"  # the field BM25 ranks


# ---------------------------------------------------------------------- data
def test_data_operations(build):
    G = _graph(build(HEAD + '''data a, b = split(train, 0.25, seed: 3)
data both = concat(a, b)
data few = take(both, 4)
data mixed = shuffle(few, seed: 1)
data copy = mixed
data hard = for x in copy where x.answer != "a"
data more = for x in hard expand q in items(small.generate(p(x.question)), max: 2) { x.question = q }
for x in more { x.r = large.generate(p(x.question)) }
'''))
    kinds = [G.nodes[n]["kind"] for n in G.graph["order"]]
    assert kinds[:9] == ["load", "split", "concat", "take", "shuffle", "concat", "filter", "generate", "expand"]
    split = _nodes(G, "split")[0]
    assert G.nodes[split]["out"] == ["a", "b"] and G.nodes[split]["options"]["ratio"] == 0.25
    assert G.nodes[split]["options"]["seed"] == 3
    assert G.nodes[_nodes(G, "take")[0]]["options"]["n"] == 4
    (load,) = _nodes(G, "load")
    assert G.nodes[load]["options"] == {"split": "train", "source": "builtin:science-mc"}
    flt = _nodes(G, "filter")[0]
    assert G.nodes[flt]["reads"] == ["answer"] and G.nodes[flt]["out"] == "hard"
    exp = _nodes(G, "expand")[0]
    assert G.nodes[exp]["data"] == "hard" and G.nodes[exp]["out"] == "more"
    item = G.nodes[exp]["options"]["item"]
    q = _nodes(G, "compute", data="more")[0]
    assert G.nodes[q]["reads"] == [item]
    assert nx.has_path(G, load, _nodes(G, "generate", data="more")[0])


# ---------------------------------------------------------------------- training and loops
def test_train_nodes_are_the_version_of_later_model_ops(build):
    G = _graph(build(HEAD + '''for x in train { x.a = small.generate(p(x.question)) }
train small sft for x in train { input: x.question, target: x.answer, epochs: 2, lr: 1e-4 }
for x in train { x.b = small.generate(p(x.question)) }
model tuned = train small kd for x in train { input: x.question, gold: x.answer, teacher: x.b, lambda: 0.3 }
for x in train { x.c = small.generate(p(x.question))  x.d = tuned.generate(p(x.question)) }
'''))
    t1, t2 = _nodes(G, "train")
    a, b, c, d = _nodes(G, "generate")
    assert G.nodes[a]["version"] is None  # base weights
    assert G.nodes[b]["version"] == t1 and G.nodes[c]["version"] == t1
    assert G.nodes[d]["version"] == t2 and G.nodes[d]["model"] == "tuned"
    assert G.nodes[t1]["options"] == {"epochs": 2, "lr": 1e-4, "objective": "sft"}
    assert G.nodes[t2]["out"] == "tuned" and G.nodes[t2]["model"] == "small"
    assert G.nodes[t2]["options"]["lambda"] == 0.3 and G.nodes[t2]["version"] == t1
    assert sorted(G.nodes[t2]["expr"]["entries"]) == ["gold", "input", "teacher"]
    assert G.graph["models"]["tuned"]["derived_from"] == "small"
    assert G.has_edge(a, t1)  # the base version is used before it is replaced


def test_loop_lists_its_body_and_what_it_carries(build):
    G = _graph(build(HEAD + '''param rounds: int = 3
repeat rounds as i {
  for x in train { x.a = small.generate(p(x.question))  x.round = i }
  data hard = for x in train where x.a != x.answer
  train small sft for x in hard { input: x.question, target: x.answer }
}
repeat until count(hard) == 0 max 4 {
  train small sft for x in train { input: x.question, target: x.answer }
}
for x in train { x.z = small.generate(p(x.question)) }
'''))
    loop, until = _nodes(G, "loop")
    body = G.nodes[loop]["body"]
    assert [G.nodes[n]["kind"] for n in body] == ["generate", "compute", "filter", "train"]
    assert G.nodes[loop]["carried"] == ["hard", "small"]
    assert G.nodes[loop]["options"] == {"var": "i", "count": 3}
    assert G.nodes[until]["options"]["max"] == 4 and G.nodes[until]["options"]["until"] is not None
    assert G.nodes[until]["carried"] == ["small"]
    (train_in_until,) = [n for n in G.nodes[until]["body"] if G.nodes[n]["kind"] == "train"]
    last = _nodes(G, "generate")[-1]
    assert G.nodes[last]["version"] == train_in_until and G.nodes[last]["parent"] is None
    # the loop node comes before its body, and edges from outside reach the loop too
    assert G.has_edge(_nodes(G, "load")[0], loop)


# ---------------------------------------------------------------------- params and bindings
STATIC = HEAD + '''param use_kb: bool = false
param show: bool = false
kb notes
if use_kb {
  for x in train { x.k = notes.retrieve(x.question, by: text) }
} else {
  for x in train { x.k = "" }
}
eval results for x in train metrics accuracy {
  gold x.answer
  "small" = small.choose(p(x.question), options: x.options)
  "large" = large.choose(p(x.question), options: x.options) if show
  "both" = large.choose(p(x.question + x.k), options: x.options) if show and not use_kb
}
'''


def test_static_if_picks_a_branch_and_set_flips_it(build):
    G = _graph(build(STATIC))
    assert _nodes(G, "retrieve") == [] and len(_nodes(G, "compute", out="k")) == 1
    assert G.nodes[_nodes(G, "compute", out="k")[0]]["reads"] == []
    G = _graph(build(STATIC, sets={"use_kb": "true"}))
    assert len(_nodes(G, "retrieve")) == 1
    (k,) = _nodes(G, "compute", out="k")
    assert G.nodes[k]["reads"] == [G.nodes[_nodes(G, "retrieve")[0]]["out"]]
    assert G.graph["params"]["use_kb"] is True


def test_eval_systems_appear_only_when_their_condition_holds(build):
    labels = lambda G: [s["label"] for s in G.nodes[_nodes(G, "eval")[0]]["options"]["systems"]]
    assert labels(_graph(build(STATIC))) == ["small"]
    assert labels(_graph(build(STATIC, sets={"show": "yes"}))) == ["small", "large", "both"]
    assert labels(_graph(build(STATIC, sets={"show": "1", "use_kb": "on"}))) == ["small", "large"]
    G = _graph(build(STATIC))
    ev = G.nodes[_nodes(G, "eval")[0]]
    assert ev["options"]["metrics"] == ["accuracy"] and ev["out"] == "results"
    assert ev["reads"] == [s["column"] for s in ev["options"]["systems"]] + [ev["options"]["gold"]]
    assert all(G.has_edge(src, _nodes(G, "eval")[0]) for src in G.predecessors(_nodes(G, "eval")[0]))


def test_model_rebinding(build):
    src = HEAD + 'for x in train { x.a = large.generate(p(x.question))  x.b = small.generate(p(x.a)) }\n'
    G = _graph(build(src, models={"large": "api:openai/gpt-4o-mini"}))
    spec = G.graph["models"]["large"]
    assert (spec["backend"], spec["ref"], spec["trainable"], spec["lora"]) == ("api", "openai/gpt-4o-mini",
                                                                              False, None)
    G = _graph(build(src, models={"large": "server:http://127.0.0.1:8000/v1#served"}))
    assert G.graph["models"]["large"]["kwargs"] == {"model": "served"}
    assert G.graph["models"]["large"]["ref"] == "http://127.0.0.1:8000/v1"
    G = _graph(build(src, models={"small": "hf:HuggingFaceTB/SmolLM2-360M-Instruct"}))
    assert G.graph["models"]["small"]["trainable"] and G.graph["models"]["small"]["lora"] == {}


@pytest.mark.parametrize("sets, models, text", [
    ({"nope": "1"}, None, "no param 'nope'"),
    ({"use_kb": "maybe"}, None, "expected true or false"),
    ({"rounds": "2.5"}, None, "expected an integer"),
    ({"p0": "high"}, None, "expected a number"),
    (None, {"nope": "api:x"}, "no model 'nope'"),
    (None, {"large": "gpt-4o"}, "expected KIND:VALUE"),
    (None, {"large": "cloud:gpt-4o"}, "expected KIND:VALUE"),
    (None, {"large": "api:"}, "expected KIND:VALUE"),
])
def test_bad_set_and_model_are_E120(build, sets, models, text):
    src = HEAD + '''param use_kb: bool = false
param rounds: int = 1
param p0: float = 0.5
for x in train { x.a = large.generate(p(x.question)) if x.a == "" { x.b = 1 } }
'''
    r = build(src, sets=sets, models=models)
    assert r.graph is None
    (d,) = [d for d in r.diagnostics if d.is_error]
    assert d.code == "E120" and text in d.message
    assert d.render(None).startswith(("--set:0:0: E120 error: --set", "--model:0:0: E120 error: --model"))


def test_training_a_model_rebound_to_an_api_is_an_error(build):
    src = HEAD + 'train small sft for x in train { input: x.question, target: x.answer }\n'
    r = build(src, models={"small": "api:openai/gpt-4o-mini"})
    assert r.graph is None
    (d,) = r.errors
    assert d.code == "E121" and "cannot be trained" in d.message and d.span.line == 6


def test_values_only_known_per_row_are_rejected_where_a_constant_is_needed(build):
    r = build(HEAD + 'for x in train { x.a = small.generate(p(x.question), temperature: len(x.answer)) }\n')
    assert r.graph is None and [d.code for d in r.errors] == ["E121"]


def test_errors_stop_before_lowering(build):
    r = build(HEAD + "for x in train { x.a = nope }\n")
    assert r.graph is None and [d.code for d in r.errors] == ["E101"]
    assert r.params == {} and r.models == {}


def test_the_loop_variable_stays_a_name_for_the_runtime(build):
    G = _graph(build(HEAD + '''repeat 2 as i {
  for x in train { x.r = i * 10 }
  train small sft for x in train { input: x.question, target: x.answer }
}
'''))
    (r,) = _nodes(G, "compute", out="r")
    names = [n for n in G.nodes[r]["expr"]["value"].walk() if type(n).__name__ == "Name"]
    assert [str(n.id) for n in names] == ["i"]


def test_prompts_and_steps_come_from_the_branch_taken(build):
    src = HEAD + '''param cot: bool = false
if cot {
  prompt ask(q) = "{q} Let's think step by step."
  step answer(x) { return small.generate(ask(x.question), max_tokens: 256) }
} else {
  prompt ask(q) = "{q} Answer:"
  step answer(x) { return small.generate(ask(x.question), max_tokens: 8) }
}
for x in train { x.a = answer(x) }
'''
    for value, template, tokens in (("false", "{q} Answer:", 8), ("true", "{q} Let's think step by step.", 256)):
        G = _graph(build(src, sets={"cot": value}))
        assert G.graph["prompts"]["ask"]["template"] == template
        assert G.nodes[_nodes(G, "generate")[0]]["options"]["max_tokens"] == tokens


COMPREHENSION = HEAD + """
param K: int = 3
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("builtin:science-mc", split: "test", limit: 4)
prompt ask(q, y) = "{q} {y}"
step helps(x, y) { return m.generate(ask(x.question, y)) }
for x in d {
  x.drafts = m.sample(x.question, k: K)
  x.h = [helps(x, x.drafts[i]) for i in 0..K - 1]
  x.up = [upper(o) for o in x.options]
}
eval r for x in d metrics accuracy { gold x.answer  "a" = x.h[0] }
"""


@pytest.mark.parametrize("k", [1, 3, 5])
def test_comprehension_over_a_param_range_unrolls_model_calls(build, k):
    G = _graph(build(COMPREHENSION, sets={"K": str(k)}))
    gens = _nodes(G, "generate")
    assert len(gens) == k  # one generate node per item, each on every row
    (h,) = [n for n in _nodes(G, "compute") if G.nodes[n]["out"] == "h"]
    assert all(G.has_edge(g, h) for g in gens)


def test_comprehension_over_row_values_stays_a_pure_expression(build):
    G = _graph(build(COMPREHENSION))
    (up,) = [n for n in _nodes(G, "compute") if G.nodes[n]["out"] == "up"]
    assert "options" in G.nodes[up]["reads"]


def test_model_call_in_a_comprehension_over_row_values_is_an_error(build):
    src = COMPREHENSION.replace("x.up = [upper(o) for o in x.options]",
                                "x.up = [m.generate(o) for o in x.options]")
    res = build(src)
    (d,) = res.errors
    assert d.code == "E125" and "iterable computable from the params" in d.message
    assert d.span.line == src.splitlines().index("  x.up = [m.generate(o) for o in x.options]") + 1


def test_model_call_over_a_step_parameter_is_caught_when_lowered(build):
    """The checker cannot tell what a step's parameter is bound to; the lowering can."""
    src = COMPREHENSION.replace("x.up = [upper(o) for o in x.options]", "x.up = each(x.options)").replace(
        "for x in d {", "step each(opts) {\n  return [m.generate(o) for o in opts]\n}\n\nfor x in d {")
    res = build(src)
    assert [d.code for d in res.errors] == ["E125"], res.errors
    assert res.errors[0].span.line == src.splitlines().index("  return [m.generate(o) for o in opts]") + 1


def test_eval_systems_list_the_retrievals_they_depend_on():
    """NesyCD: the gated-knowledge rows depend on a retrieval from the KB; Std-CoT does not."""
    G = _graph(compile_path(str(ROOT / "programs" / "nesycd.collab")))
    (ev,) = _nodes(G, "eval")
    systems = {s["label"]: s["retrievals"] for s in G.nodes[ev]["options"]["systems"]}
    assert systems["Std-CoT"] == [] and systems["Zero-shot"] == []
    for label in ("Zero-shot-CoT w k", "Std-CoT w k", "NesyCD"):
        assert len(systems[label]) == 1 and systems[label][0][1] == "knowledge"
    assert systems["NesyCD"] != systems["Std-CoT w k"]  # each its own retrieval node


def test_expansion_past_the_limit_is_E129_at_the_outermost_call(build):
    """The checker estimates with param defaults; a --set value that makes a comprehension
    unroll past the limit is caught while lowering, at the comprehension, with no graph."""
    src = HEAD + '''param K: int = 2
for x in train { x.votes = [large.generate(p(x.question), temperature: 1.0) for i in 0..K] }
'''
    assert _graph(build(src, sets={"K": "3"}))
    r = build(src, sets={"K": "20000"})
    assert r.graph is None
    (d,) = r.errors
    assert d.code == "E129" and "this comprehension expands to more than 10,000 operations" in d.message
    assert (d.span.line, d.span.col) == (7, 28)
    # a literal range is caught by the checker already, before anything is lowered
    r = build(src.replace("0..K", "0..20000"))
    (d,) = r.errors
    assert d.code == "E129" and "20,001 operations" in d.message
