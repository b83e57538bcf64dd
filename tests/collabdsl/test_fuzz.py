"""Fuzzing the front end with hypothesis: random text and mutations of real programs
(programs/, stdlib/, examples/ and the test fixtures) must end in diagnostics or a graph,
never in an exception. bench/fuzz.py runs the same idea on 10,000 inputs.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import networkx as nx
import pytest
from collab_testing import FIXTURES, ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collabdsl.compiler import check_path, compile_path
from collabdsl.diagnostics import render_all, to_json

# Derandomized: the suite sees the same inputs on every run (no flaky CI); bench/fuzz.py
# explores new ones (--seed).
SETTINGS = {"deadline": None, "database": None, "derandomize": True,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}

KEYWORDS = ["program", "from", "import", "param", "model", "data", "prompt", "kb", "step", "for", "in",
            "where", "expand", "train", "repeat", "until", "max", "as", "if", "else", "eval", "metrics",
            "gold", "return", "trainable", "frozen", "lora", "full", "and", "or", "not", "true", "false",
            "none", "sft", "kd", "dpo", "multitask", "generate", "sample", "score", "choose", "retrieve",
            "write", "load", "split", "concat", "take", "shuffle", "count", "x", "x.question", "options:",
            "k:", "range:", "confidence:", "on_parse_error:", "drop", "option_prob", "stdlib.qa"]
PUNCT = list("{}()[],:.=+-*/%<>#\"\\\n ") + ["..", "==", "!=", "<=", ">=", '"""', "{{", "}}", "\x00", "é"]
LITERALS = ["0", "-1", "1.5", "12", "1e309", "99999999999999999999", '""', '"{q}"', '"{{x}}"', "none",
            '"builtin:nope"', '"a\\x00b"', "x.score", "true"]
TOKEN_RE = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d+(?:\.\d+)?|'
                      r"[A-Za-z_][A-Za-z0-9_]*|\.\.|[=!<>]=|\s+|.", re.DOTALL)
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _corpus() -> list[str]:
    files = []
    for folder in (ROOT / "programs", ROOT / "stdlib", ROOT / "examples", FIXTURES):
        files += sorted(folder.rglob("*.collab"))
    return [f.read_text(encoding="utf-8") for f in files]


CORPUS = _corpus()


@pytest.fixture(scope="module")
def workdir():
    """A folder holding the fixture modules, so mutated fixtures can import them."""
    tmp = Path(tempfile.mkdtemp(prefix="collab-fuzz-"))
    shutil.copytree(FIXTURES / "lint" / "modules", tmp / "modules")
    yield tmp
    shutil.rmtree(tmp, ignore_errors=True)


def compile_never_raises(workdir: Path, text: str, sets=None, models=None) -> str:
    """Check and compile ``text``; return the outcome, or fail on a broken invariant."""
    path = workdir / "input.collab"
    path.write_text(text, encoding="utf-8")
    r = check_path(str(path))
    render_all(r.diagnostics, r.sources)
    to_json(r.diagnostics)
    for d in r.diagnostics:  # a diagnostic in a source points inside it
        src = r.sources.get(d.span.path)
        if src is not None and d.code != "E003":
            assert 1 <= d.span.line <= max(1, len(src.splitlines())) and d.span.col >= 1, d
    c = compile_path(str(path), sets=sets, models=models)
    render_all(c.diagnostics, c.sources)
    if c.errors:
        assert c.graph is None
        return "errors"
    G = c.graph
    assert G is not None and nx.is_directed_acyclic_graph(G)
    pos = {n: i for i, n in enumerate(G.graph["order"])}
    assert len(pos) == G.number_of_nodes()
    assert all(pos[a] < pos[b] for a, b in G.edges)
    return "graph"


# ---------------------------------------------------------------------- inputs
random_text = st.lists(st.one_of(st.sampled_from(KEYWORDS + PUNCT + LITERALS),
                                 st.text(max_size=4)), max_size=80).map(" ".join)


@st.composite
def mutated_program(draw) -> str:
    text = draw(st.sampled_from(CORPUS))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["name", "name", "literal", "delete", "duplicate", "swap", "insert",
                                   "line_delete", "line_duplicate", "line_swap", "char"]))
        if op.startswith("line"):
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            j = draw(st.integers(0, len(lines) - 1))
            if op == "line_delete":
                del lines[i]
            elif op == "line_duplicate":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
            continue
        toks = TOKEN_RE.findall(text)
        if not toks:
            return draw(random_text)
        i = draw(st.integers(0, len(toks) - 1))
        j = draw(st.integers(0, len(toks) - 1))
        if op == "name":
            if NAME_RE.fullmatch(toks[i]) and NAME_RE.fullmatch(toks[j]):
                toks[i] = toks[j]
            else:
                toks[i] = draw(st.sampled_from(KEYWORDS))
        elif op == "literal":
            toks[i] = draw(st.sampled_from(LITERALS))
        elif op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i])
        elif op == "swap":
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "insert":
            toks.insert(i, " " + draw(st.sampled_from(KEYWORDS + PUNCT + LITERALS)) + " ")
        else:
            toks[i] = toks[i] + draw(st.text(min_size=1, max_size=2))
        text = "".join(toks)
    return text


bindings = st.tuples(
    st.dictionaries(st.sampled_from(["p0", "k", "use_conf", "rounds", "nope", "no_kb", "iterations"]),
                    st.sampled_from(["true", "0", "1.5", "x", "", "-3"]), max_size=2),
    st.dictionaries(st.sampled_from(["small", "large", "weak", "student", "nope"]),
                    st.sampled_from(["api:openai/gpt-4o-mini", "hf:gpt2", "bogus", "server:http://h/v1#m",
                                     "column:rationale", "api:"]), max_size=2),
)


# ---------------------------------------------------------------------- properties
def test_the_corpus_is_real():
    assert len(CORPUS) >= 50  # the lint fixtures alone are 80 files


@settings(max_examples=80, **SETTINGS)
@given(text=random_text)
def test_random_text(workdir, text):
    assert compile_never_raises(workdir, text) in ("errors", "graph")


@settings(max_examples=180, **SETTINGS)
@given(text=mutated_program())
def test_mutated_programs(workdir, text):
    compile_never_raises(workdir, text)


@settings(max_examples=40, **SETTINGS)
@given(text=mutated_program(), binding=bindings)
def test_mutated_programs_with_set_and_model(workdir, text, binding):
    sets, models = binding
    compile_never_raises(workdir, text, sets=sets, models=models)


@pytest.mark.parametrize("text", [
    "", "\x00", "{", "}" * 50, '"""', '"', "#", "program", 'program p "x"', "for x in",
    "param a: int = " + "(" * 500 + "1" + ")" * 500,
    "param a: int = " + "-" * 2000 + "1",
    "param a: int = " + " + ".join(["1"] * 3000),
    "param a: int = " + "not " * 2000 + "true",
    "param a: int = [" * 300 + "]" * 300,
    'from "' + "x" * 5000 + '" import a',
    'from "/dev/null" import a',
    'from "." import a',
    "from stdlib import a",
    "from stdlib.qa.deeper import a",
    "step s(x) { return s(x) }\nfor x in d { x.a = s(x) }",
])
def test_edge_inputs(workdir, text):
    compile_never_raises(workdir, text)
