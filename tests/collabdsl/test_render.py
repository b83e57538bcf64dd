"""Rendering of IR graphs (mermaid, dot, json, svg) on graphs built by hand after the IR
contract in ``collabdsl/ir.py``."""
from __future__ import annotations

import json
import random
import re
import shutil
import subprocess

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collabdsl import ast as A
from collabdsl import render
from collabdsl.parser import parse

S = A.Span("t.collab", 1, 1, 1, 2)


def nm(x):
    return A.Name(S, A.Ident(x))


def at(obj, field):
    return A.Attr(S, nm(obj) if isinstance(obj, str) else obj, A.Ident(field))


def call(f, *args, **kw):
    return A.Call(S, nm(f) if isinstance(f, str) else f, list(args),
                  [A.KwArg(S, A.Ident(k), v) for k, v in kw.items()])


NODES = [
    # id, attrs
    ("load:train#1", dict(kind="load", label='load "builtin:science-mc" [train]', data=None,
                          out="train", options={"source": "builtin:science-mc", "limit": 40})),
    ("split", dict(kind="split", label="split train 0.5", data="train", out=["a", "b"],
                   options={"ratio": 0.5, "seed": 0})),
    ("end", dict(kind="loop", label="repeat 2", options={"count": 2, "var": "i"})),
    ("guess", dict(kind="choose", label="small.choose -> guess", data="a", model="small", parent="end",
                   out="guess", reads=["question", "options"],
                   expr={"prompt": call("ask", at("x", "question")), "options": at("x", "options"), "var": "x"},
                   options={"confidence": "option_prob"})),
    ("g", dict(kind="gate", label="if ...", data="a", parent="end", out="_g3", reads=["guess"],
               expr={"cond": A.Compare(S, ">", at(at("x", "guess"), "confidence"), nm("p0")), "var": "x"})),
    ("hi", dict(kind="generate", label="large.generate -> t", data="a", model="large", parent="end",
                out="t", when=["_g3"], expr={"prompt": call("ask", at("x", "question")), "var": "x"})),
    ("lo", dict(kind="generate", label="large.generate -> t", data="a", model="large", parent="end",
                out="t", when=["!_g3"], expr={"prompt": call("ask", at("x", "question")), "var": "x"})),
    ("kd", dict(kind="train", label="train small kd", data="a", model="small", parent="end", out="small",
                options={"objective": "kd", "lambda": 0.5},
                expr={"entries": {"input": at("x", "question"), "teacher": at("x", "t")}, "var": "x"})),
    ("inner", dict(kind="loop", label="repeat until ...", parent="end",
                   options={"until": A.Compare(S, "==", call("count", nm("rejected")), A.Num(S, 0)),
                            "max": 5, "var": None})),
    ("judge", dict(kind="score", label="large.score -> s", data="b", model="large", parent="inner", out="s",
                   options={"range": [0, 1]})),
    ("ev", dict(kind="eval", label="eval results", data="b", out="results",
                options={"metrics": ["accuracy"], "systems": [{"label": "small", "column": "_sys9"}]})),
]
ORDER = [n for n, _ in NODES]
EDGES = [
    ("load:train#1", "split", dict(kind="data", label="train")),
    ("split", "guess", dict(kind="data", label="question")),
    ("split", "end", dict(kind="data", label="question", twin=True)),
    ("guess", "g", dict(kind="data", label="guess")),
    ("g", "hi", dict(kind="data", label="_g3")),
    ("g", "lo", dict(kind="data", label="_g3")),
    ("hi", "kd", dict(kind="data", label="t")),
    ("lo", "kd", dict(kind="data", label="t")),
    ("kd", "judge", dict(kind="version", label="small")),
    ("split", "judge", dict(kind="data", label="b")),
    ("split", "inner", dict(kind="data", label="b", twin=True)),
    ("kd", "ev", dict(kind="version", label="small")),
    ("split", "ev", dict(kind="data", label="b")),
]


def build_graph(shuffle_seed: int | None = None) -> nx.DiGraph:
    G = nx.DiGraph()
    G.graph.update(name="demo", description='A "demo" scheme', path="t.collab", params={"p0": 0.6},
                   models={"small": {"backend": "embedded", "ref": "smollm2-135m-instruct"},
                           "large": {"backend": "api", "ref": "openai/gpt-4o-mini"}},
                   prompts={"ask": {"slots": ["q"], "template": "Q: {q}"}}, kbs=[], order=list(ORDER))
    nodes, edges = list(NODES), list(EDGES)
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(nodes)
        random.Random(shuffle_seed + 1).shuffle(edges)
    for n, attrs in nodes:
        base = dict(span="t.collab:1:1", parent=None, data=None, model=None, version=None, reads=[], out=None,
                    when=[], expr=None, options={})
        base.update(attrs)
        G.add_node(n, **base)
    G.nodes["end"]["body"] = ["guess", "g", "hi", "lo", "kd", "inner"]
    G.nodes["inner"]["body"] = ["judge"]
    for u, v, d in edges:
        G.add_edge(u, v, **d)
    return G


# ------------------------------------------------------------------ mermaid
def test_mermaid_shapes_and_structure():
    text = render.to_mermaid(build_graph())
    assert text.startswith("flowchart TD\n")
    assert text.endswith("\n")
    ids = render.sanitize_ids(build_graph(), render.node_order(build_graph()))
    # loops are subgraphs with readable titles, nested
    assert f'subgraph {ids["end"]} ["repeat 2 × as i"]' in text
    assert f'subgraph {ids["inner"]} ["repeat until count(rejected) == 0 (max 5)"]' in text
    assert text.count("\n  end\n") + text.count("\n    end\n") == 2
    # shapes
    assert f'{ids["g"]}{{"if x.guess.confidence > p0"}}' in text
    assert f'{ids["kd"]}[["train small kd"]]' in text
    assert f'{ids["load:train#1"]}[("' in text  # cylinder
    assert f'{ids["split"]}(["split train 0.5"])' in text  # stadium
    assert f'{ids["ev"]}{{{{"eval results"}}}}' in text  # hexagon
    # version edges dashed, data edges solid; gate branches say yes/no
    assert f'{ids["kd"]} -.->|"small"| {ids["judge"]}' in text
    assert f'{ids["load:train#1"]} -->|"train"| {ids["split"]}' in text
    assert f'{ids["g"]} -->|"yes"| {ids["hi"]}' in text
    assert f'{ids["g"]} -->|"no"| {ids["lo"]}' in text
    # quotes are escaped
    assert '#quot;builtin:science-mc#quot;' in text
    assert "%% demo: A #quot;demo#quot; scheme" in text or '%% demo: A "demo" scheme' in text


def test_mermaid_ids_are_sanitised_and_unique():
    G = build_graph()
    ids = render.sanitize_ids(G, render.node_order(G))
    assert len(set(ids.values())) == len(ids)
    for v in ids.values():
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", v)
        assert v != "end"  # a mermaid keyword
    G2 = nx.DiGraph(order=["a-b", "a_b", "a.b"])
    for n in G2.graph["order"]:
        G2.add_node(n, kind="compute", label=n, parent=None)
    ids2 = render.sanitize_ids(G2, render.node_order(G2))
    assert len(set(ids2.values())) == 3


def test_twin_edges_into_loops_are_not_drawn():
    G = build_graph()
    ids = render.sanitize_ids(G, render.node_order(G))
    text = render.to_mermaid(G)
    assert f'{ids["split"]} -->|"question"| {ids["end"]}' not in text
    assert f"--> {ids['inner']}" not in text
    assert f'{ids["split"]} -->|"question"| {ids["guess"]}' in text


def test_edge_into_a_loop_without_twin_is_drawn_to_the_loop():
    G = build_graph()
    G.add_node("solo", kind="compute", label="solo", parent=None)
    G.graph["order"] = ["solo"] + G.graph["order"]
    G.add_edge("solo", "end", kind="data", label="z")
    ids = render.sanitize_ids(G, render.node_order(G))
    assert f'{ids["solo"]} -->|"z"| {ids["end"]}' in render.to_mermaid(G)
    assert f"lhead=cluster_{ids['end']}" in render.to_dot(G)


@pytest.mark.parametrize("fmt", ["mermaid", "dot", "json"])
def test_output_is_deterministic(fmt):
    texts = {render.render(build_graph(seed), fmt) for seed in (None, 1, 2, 3)}
    assert len(texts) == 1


def test_order_follows_graph_order():
    G = build_graph()
    text = render.to_mermaid(G)
    ids = render.sanitize_ids(G, render.node_order(G))
    positions = [text.index(ids[n] + ("[" if G.nodes[n]["kind"] != "loop" else " "))
                 for n in ORDER if G.nodes[n]["kind"] not in ("gate", "eval", "split", "load", "train", "loop")]
    assert positions == sorted(positions)


def test_labels_are_filled_in_and_truncated():
    G = build_graph()
    assert render.node_label(G.nodes["g"]) == "if x.guess.confidence > p0"
    long = {"kind": "compute", "label": "x = " + "a" * 200}
    assert len(render.node_label(long)) == render.MAX_LABEL
    assert render.node_label({"kind": "compute", "out": "col"}, "n7") == "compute col"


def test_stray_nodes_not_in_order_are_still_drawn():
    G = build_graph()
    G.add_node("zz", kind="compute", label="stray", parent=None)
    assert '"stray"' in render.to_mermaid(G)


# ------------------------------------------------------------------ dot
def test_dot_has_clusters_and_styles():
    G = build_graph()
    ids = render.sanitize_ids(G, render.node_order(G))
    text = render.to_dot(G)
    assert text.startswith('digraph "demo" {')
    assert f"subgraph cluster_{ids['end']} {{" in text
    assert f"subgraph cluster_{ids['inner']} {{" in text
    assert 'label="repeat 2 × as i"' in text
    assert "shape=diamond" in text and "peripheries=2" in text and "shape=cylinder" in text
    assert re.search(rf"{ids['kd']} -> {ids['judge']} \[.*style=dashed", text)
    assert 'label="A \\"demo\\" scheme"' in text or '\\"demo\\"' in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_dot_source_is_valid_graphviz():
    proc = subprocess.run(["dot", "-Tsvg"], check=False, input=render.to_dot(build_graph()).encode(),
                          capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"<svg" in proc.stdout


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
@pytest.mark.parametrize("fmt,magic", [("svg", b"<svg"), ("png", b"\x89PNG")])
def test_render_image(tmp_path, fmt, magic):
    out = render.render_image(build_graph(), fmt, tmp_path / f"g.{fmt}")
    assert magic in out.read_bytes()[:400]


def test_render_image_without_dot(monkeypatch, tmp_path):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    with pytest.raises(render.DotNotFound) as exc:
        render.render_image(build_graph(), "svg", tmp_path / "g.svg")
    assert str(exc.value) == render.DOT_NOT_FOUND
    assert "apt-get install graphviz" in render.DOT_NOT_FOUND
    assert "--format mermaid|dot|json" in render.DOT_NOT_FOUND


# ------------------------------------------------------------------ json
def test_json_is_node_link_with_source_text():
    G = build_graph()
    G.nodes["kd"]["options"]["callback"] = object()  # no JSON form: dropped
    G.nodes["kd"]["options"]["tags"] = {"b", "a"}
    text = render.to_json(G)
    data = json.loads(text)
    assert text == json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert [n["id"] for n in data["nodes"]] == ORDER
    assert {"source", "target", "kind"} <= set(data["edges"][0])
    nodes = {n["id"]: n for n in data["nodes"]}
    assert nodes["g"]["expr"]["cond"] == "x.guess.confidence > p0"
    assert nodes["guess"]["expr"]["prompt"] == "ask(x.question)"
    assert nodes["kd"]["expr"]["entries"] == {"input": "x.question", "teacher": "x.t"}
    assert nodes["inner"]["options"]["until"] == "count(rejected) == 0"
    assert "callback" not in nodes["kd"]["options"]
    assert nodes["kd"]["options"]["tags"] == ["a", "b"]
    assert data["graph"]["order"] == ORDER


def test_jsonable_values():
    assert render.jsonable(A.Ident("x")) == "x" and type(render.jsonable(A.Ident("x"))) is str
    assert render.jsonable(float("nan")) == "nan"
    assert render.jsonable((1, [2, S])) == [1, [2, "t.collab:1:1"]]
    assert render.jsonable({1: object(), 2: "b"}) == {"2": "b"}


def test_unknown_format():
    with pytest.raises(ValueError):
        render.render(build_graph(), "svg")


# ------------------------------------------------------------------ expression text
@pytest.mark.parametrize("src", [
    "a + b * c", "(a + b) * c", "a - (b - c)", "a - b - c", "not a and b", "not (a and b)",
    "a or b and c", "(a or b) and c", "-x.y", "-(a + b)", "f(x, k: 3)[0].answer", "x.a.b <= 0.68",
    '"q" + x.question', "[1, 2.5, none, true]", "{a: 1, b: \"s\"}", "a % 2 == 0", "items(x, max: k)",
    "(a < b) == c",
])
def test_expr_text_round_trips_through_the_parser(src):
    e = _parse_expr(src)
    assert render.expr_text(e) == src
    assert _strip(_parse_expr(render.expr_text(e))) == _strip(e)


def _parse_expr(src: str):
    program, diags = parse(f"param p: int = {src}\n")
    assert not diags, diags
    return program.body[0].default


def _strip(e):
    """An AST as nested tuples without spans."""
    if isinstance(e, A.Node):
        return (type(e).__name__,) + tuple((k, _strip(v)) for k, v in vars(e).items() if k != "span")
    if isinstance(e, list):
        return tuple(_strip(i) for i in e)
    if isinstance(e, str):
        return str(e)
    return e


names = st.sampled_from(["a", "b", "x", "p0", "count"]).map(nm)
leaves = st.one_of(names, st.integers(0, 1000).map(lambda v: A.Num(S, v)),
                   st.text("abc xyz:.", max_size=6).map(lambda v: A.Str(S, v)),
                   st.booleans().map(lambda v: A.Bool(S, v)), st.just(A.NoneLit(S)))


def _extend(children):
    return st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*", "/", "%"]), children, children).map(lambda t: A.BinOp(S, *t)),
        st.tuples(st.sampled_from(["<", "<=", "==", "!=", ">", ">="]), children, children)
        .map(lambda t: A.Compare(S, *t)),
        st.tuples(children, children).map(lambda t: A.And(S, *t)),
        st.tuples(children, children).map(lambda t: A.Or(S, *t)),
        children.map(lambda c: A.Not(S, c)),
        children.map(lambda c: A.Neg(S, c)),
        st.tuples(names, st.sampled_from(["answer", "text"])).map(lambda t: A.Attr(S, t[0], A.Ident(t[1]))),
        st.tuples(names, st.lists(children, max_size=2)).map(lambda t: A.Call(S, t[0], t[1], [])),
        st.lists(children, max_size=3).map(lambda items: A.ListLit(S, items)),
        st.tuples(names, children).map(lambda t: A.Index(S, *t)),
    )


@settings(max_examples=150, deadline=None)
@given(st.recursive(leaves, _extend, max_leaves=8))
def test_expr_text_round_trip_property(e):
    text = render.expr_text(e)
    back = _parse_expr(text)
    # the parser reads "-3" as a negated number, as the printer wrote it
    assert render.expr_text(back) == text
    assert _strip(back) == _strip(e)


def test_json_redacts_secrets():
    G = build_graph()
    G.graph["models"]["srv"] = {"backend": "server", "ref": "http://me:hunter2@h:8000/v1?api_key=sk-1",
                                "kwargs": {"api_key": "sk-2", "model": "m"}}
    G.graph["params"]["auth_token"] = "tok-3"
    text = render.to_json(G)
    for secret in ("hunter2", "sk-1", "sk-2", "tok-3"):
        assert secret not in text
    data = json.loads(text)
    assert data["graph"]["models"]["srv"]["ref"] == "http://h:8000/v1?api_key=***"
    assert data["graph"]["models"]["srv"]["kwargs"] == {"api_key": "[REDACTED]", "model": "m"}
