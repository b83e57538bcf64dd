"""Fuzz the compiler front end: random text, mutations of real programs, generated programs.

    .venv/bin/python bench/fuzz.py [--n 10000] [--seed 0] [--out bench/fuzz-crashes]

Every input goes through ``check_path`` and ``compile_path`` (with a random ``--set`` /
``--model`` now and then). Each must end in diagnostics or a graph: an exception that
escapes is a crash. For a program with no errors the graph must exist and be acyclic, and
``G.graph["order"]`` must be a topological order of it. Diagnostics must render.

Prints the number of inputs, of crashes (the first few tracebacks; every crashing input is
saved under --out) and the throughput. Seeded: the same --seed gives the same inputs.
Exit status 1 when anything crashed.
"""
from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from collabdsl.compiler import check_path, compile_path
from collabdsl.diagnostics import render_all, to_json

FIXTURES = ROOT / "tests" / "collabdsl" / "fixtures"
KEYWORDS = ["program", "from", "import", "param", "model", "data", "prompt", "kb", "step", "for", "in",
            "where", "expand", "train", "repeat", "until", "max", "as", "if", "else", "eval", "metrics",
            "gold", "return", "trainable", "frozen", "lora", "full", "and", "or", "not", "true", "false",
            "none", "sft", "kd", "dpo", "multitask", "generate", "sample", "score", "choose", "retrieve",
            "write", "load", "split", "concat", "take", "shuffle", "count", "stdlib.qa", "x", "x.question",
            "options:", "k:", "range:", "confidence:", "on_parse_error:", "drop", "option_prob"]
PUNCT = list("{}()[],:.=+-*/%<>#\"\\\n ") + ["..", "==", "!=", "<=", ">=", '"""', "{{", "}}", "\x00", "é", "\t"]
LITERALS = ["0", "-1", "1.5", "12", "0.0", "1e309", "99999999999999999999", '""', '"{q}"', '"{{x}}"',
            '"builtin:nope"', '"a\\x00b"', '"' + "a" * 300 + '"', "x.score", "none", "true"]
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TOKEN_RE = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d+(?:\.\d+)?|'
                      r"[A-Za-z_][A-Za-z0-9_]*|\.\.|[=!<>]=|\s+|.", re.DOTALL)


def corpus() -> list[str]:
    """Real programs: programs/, stdlib/, examples/ and the test fixtures."""
    files = []
    for folder in (ROOT / "programs", ROOT / "stdlib", ROOT / "examples", FIXTURES):
        files += sorted(folder.rglob("*.collab"))
    texts = []
    for f in files:
        try:
            texts.append(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def random_text(rng: random.Random) -> str:
    n = rng.randint(0, 200)
    alphabet = "".join(PUNCT) + "abcdefxyz0123456789_ "
    out = []
    while len(out) < n:
        r = rng.random()
        if r < 0.3:
            out.append(rng.choice(KEYWORDS) + " ")
        elif r < 0.5:
            out.append(rng.choice(PUNCT))
        else:
            out.append(rng.choice(alphabet))
    return "".join(out)


def mutate(text: str, rng: random.Random) -> str:
    """1 to 4 edits (mostly 1): replace a name by another name of the program or a literal by
    an edge value; delete / duplicate / swap / replace tokens or lines; insert characters or
    keywords. Most edits keep the program parseable, so the checks and the lowering are
    exercised, not only the parser."""
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        op = rng.choices(["name", "literal", "token", "line"], weights=[3, 1.5, 3.5, 2])[0]
        if op == "line":
            lines = text.split("\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            edit = rng.randrange(4)
            if edit == 0:
                del lines[i]
            elif edit == 1:
                lines.insert(i, lines[i])
            elif edit == 2:
                lines[i], lines[j] = lines[j], lines[i]
            else:
                pos = rng.randint(0, len(lines[i]))
                lines[i] = lines[i][:pos] + rng.choice(PUNCT + KEYWORDS) + lines[i][pos:]
            text = "\n".join(lines)
            continue
        toks = TOKEN_RE.findall(text)
        if not toks:
            return random_text(rng)
        if op == "name":  # another name of the same program, or a keyword
            names = [i for i, t in enumerate(toks) if NAME_RE.fullmatch(t)]
            if names:
                toks[rng.choice(names)] = (toks[rng.choice(names)] if rng.random() < 0.8
                                           else rng.choice(KEYWORDS))
        elif op == "literal":  # a number or string replaced by an edge value
            lits = [i for i, t in enumerate(toks) if t[:1].isdigit() or t[:1] == '"']
            if lits:
                toks[rng.choice(lits)] = rng.choice(LITERALS)
        else:
            i, j = rng.randrange(len(toks)), rng.randrange(len(toks))
            edit = rng.randrange(5)
            if edit == 0:
                del toks[i]
            elif edit == 1:
                toks.insert(i, toks[i])
            elif edit == 2:
                toks[i], toks[j] = toks[j], toks[i]
            elif edit == 3:
                toks.insert(i, rng.choice([" " + rng.choice(KEYWORDS) + " ", rng.choice(PUNCT)]))
            else:
                toks[i] = rng.choice(KEYWORDS + PUNCT + LITERALS)
        text = "".join(toks)
    return text


# ---------------------------------------------------------------------- generated programs
# Well-formed programs from a small grammar: most of them parse, so they exercise the
# checks and the lowering (steps, gates, loops, static ifs, trainings, evals) far more
# than mutations, which mostly end in syntax errors.
GEN_HEAD = '''program g "generated"
param p0: float = 0.5
param k: int = 2
param flag: bool = true
param n: int = 2
model small = embedded("smollm2-135m-instruct") trainable
model large = embedded("smollm2-135m-instruct") frozen
model api_m = api("openai/gpt-4o-mini")
kb notes
data train = load("builtin:science-mc", split: "train")
data test = load("builtin:science-mc", split: "test")
prompt p(q) = "P: {q}"
prompt q2(q) = "Q2: {q}"
step st1(x) { return small.generate(p(x.question)) }
step st2(m, x) { if x.answer == "a" { return m.choose(p(x.question), options: x.options) } return m.generate(q2(x.question)) }
for x in train { x.a = "a" x.g = small.generate(p(x.question), confidence: top2_margin) x.c = small.choose(p(x.question), options: x.options) }
for x in test { x.a = "a" x.g = small.generate(p(x.question), confidence: top2_margin) x.c = small.choose(p(x.question), options: x.options) }
'''
GEN_COLS = ["question", "answer", "options", "a", "g", "c", "s"]


class Generator:
    def __init__(self, rng: random.Random):
        self.r = rng
        self.data = ["train", "test"]
        self.models = ["small", "small", "large", "api_m"]

    def fresh(self) -> str:
        name = f"d{len(self.data)}"
        self.data.append(name)
        return name

    def expr(self, depth=0) -> str:
        r = self.r
        c = r.randrange(14 if depth < 3 else 4)
        if c == 0:
            return str(r.choice([0, 1, 2, 0.5, 1.5, -1, 12]))
        if c == 1:
            return r.choice(['"txt"', "true", "false", "none", '"{q}"', "p0", "k", "flag"])
        if c == 2:
            return "x." + r.choice(GEN_COLS)
        if c == 3:
            return "x." + r.choice(GEN_COLS) + "." + r.choice(["answer", "text", "confidence", "probs", "foo"])
        if c == 4:
            op = r.choice(["+", "-", "*", "/", "%", "==", "<", ">=", "and", "or"])
            return f"{self.expr(depth + 1)} {op} {self.expr(depth + 1)}"
        if c == 5:
            return f"not {self.expr(depth + 1)}"
        if c == 6:
            return f"{r.choice(['p', 'q2'])}({self.expr(depth + 1)})"
        if c in (7, 8):
            return self.model_call(depth + 1)
        if c == 9:
            return f"[{self.expr(depth + 1)}, {self.expr(depth + 1)}]"
        if c == 10:
            fn = r.choice(["extract_answer", "last_number", "items", "len", "lower", "format_options", "str"])
            return f"{fn}({self.expr(depth + 1)})"
        if c == 11:
            return r.choice(["st1(x)", "st2(small, x)", "st2(large, x)", "st2(x)", "st1(small, x)"])
        if c == 12:
            return f"notes.retrieve({self.expr(depth + 1)}, top: {r.choice(['1', 'k', '0'])})"
        return f"{self.expr(depth + 1)}[{r.choice([0, 1])}]"

    def model_call(self, depth) -> str:
        r = self.r
        meth = r.choice(["generate", "generate", "sample", "score", "choose"])
        kws = {"generate": ["temperature: 0.5", "confidence: top2_margin", "max_tokens: 16"],
               "sample": ["k: 2", "k: k"], "score": ["range: 0..1", "range: 1..10", "on_parse_error: drop"],
               "choose": ["options: x.options", "confidence: option_prob"]}[meth]
        args = [f"p({self.expr(depth + 1)})"] + r.sample(kws, r.randint(0, len(kws)))
        return f"{r.choice(self.models + ['m'])}.{meth}({', '.join(args)})"

    def rows(self, n, depth=0) -> str:
        r, out = self.r, []
        for _ in range(n):
            c = r.randrange(6)
            if c <= 2:
                out.append(f"x.{r.choice(GEN_COLS)} = {self.expr()}")
            elif c == 3:
                out.append(f"{r.choice(['loc', 'h'])} = {self.expr()}")
            elif c == 4 and depth < 2:
                gate = f"if {self.expr()} {{ {self.rows(r.randint(0, 2), depth + 1)} }}"
                if r.random() < 0.5:
                    gate += f" else {{ {self.rows(r.randint(0, 2), depth + 1)} }}"
                out.append(gate)
            else:
                out.append(f"notes.write({self.expr()}, key: x.question)")
        return " ".join(out)

    def stmt(self, depth=0) -> str:
        r = self.r
        d = r.choice(self.data)
        c = r.randrange(11)
        if c == 0:
            return f"for x in {d} {{ {self.rows(r.randint(1, 4))} }}"
        if c == 1:
            return f"data {self.fresh()} = for x in {d} where {self.expr()}"
        if c == 2:
            return f"data {self.fresh()} = for x in {d} expand it in items({self.expr()}, max: 2) {{ x.question = it }}"
        if c == 3:
            return f"data {self.fresh()}, {self.fresh()} = split({d}, 0.5, seed: 1)"
        if c == 4:
            obj, entries = r.choice([
                ("sft", f"input: {self.expr()}, target: {self.expr()}"),
                ("kd", f"input: x.question, gold: x.answer, teacher: {self.expr()}, lambda: 0.5"),
                ("dpo", "prompt: x.question, chosen: x.a, rejected: x.answer"),
                ("multitask", f"input: x.question, tasks: [task(\"p: \", {self.expr()})]")])
            model = r.choice(self.models)
            if r.random() < 0.3:
                new = f"m{len(self.models)}"
                self.models.append(new)
                return f"model {new} = train {model} {obj} for x in {d} {{ {entries} }}"
            return f"train {model} {obj} for x in {d} {{ {entries}, epochs: 1 }}"
        if c in (5, 6) and depth < 2:
            head = r.choice([f"repeat {r.choice(['2', 'n', '0'])} as i", f"repeat until count({d}) == 0 max 3"])
            return f"{head} {{ {' '.join(self.stmt(depth + 1) for _ in range(r.randint(0, 3)))} }}"
        if c == 7 and depth < 2:
            body = lambda: " ".join(self.stmt(depth + 1) for _ in range(r.randint(0, 2)))
            return f"if {r.choice(['flag', 'not flag', 'p0 > 0.5', 'n'])} {{ {body()} }} else {{ {body()} }}"
        if c == 8:
            return (f"eval e{r.randrange(99)} for x in {d} metrics accuracy {{ gold x.answer "
                    f"\"a\" = {self.expr()} \"b\" = {self.expr()} if {r.choice(['flag', 'true', 'false'])} }}")
        if c == 9:
            fn, rest = r.choice([("concat", ", train"), ("take", ", 3"), ("shuffle", "")])
            return f"data {self.fresh()} = {fn}({d}{rest})"
        return f"prompt {r.choice(['p3', 'p4'])}(q) = \"Q: {{q}}\""

    def program(self) -> str:
        return GEN_HEAD + "\n".join(self.stmt() for _ in range(self.r.randint(1, 8))) + "\n"


def make_input(rng: random.Random, texts: list[str]) -> str:
    """10% random text, 20% generated programs, 70% mutations of real programs."""
    roll = rng.random()
    if not texts or roll < 0.1:
        return random_text(rng)
    if roll < 0.3:
        return Generator(rng).program()
    return mutate(rng.choice(texts), rng)


def options(rng: random.Random) -> tuple[dict, dict]:
    sets, models = {}, {}
    if rng.random() < 0.1:
        sets[rng.choice(["p0", "k", "use_conf", "rounds", "nope", "no_kb"])] = rng.choice(
            ["true", "0", "1.5", "x", "", "-3"])
    if rng.random() < 0.1:
        models[rng.choice(["small", "large", "weak", "student", "nope"])] = rng.choice(
            ["api:openai/gpt-4o-mini", "hf:gpt2", "bogus", "server:http://h/v1#m", "api:"])
    return sets, models


def check_diagnostics(result) -> None:
    """Diagnostics render, and each one in a source file points inside that file."""
    render_all(result.diagnostics, result.sources)
    for d in result.diagnostics:
        src = result.sources.get(d.span.path)
        if src is None or d.code == "E003":
            continue
        n_lines = max(1, len(src.splitlines()))
        assert 1 <= d.span.line <= n_lines and d.span.col >= 1, f"{d.code} at {d.span} is outside the file"


def check_one(path: Path, sets: dict, models: dict) -> str:
    """The outcome ("syntax", "errors" or "graph"); raises AssertionError (or whatever the
    compiler raises) when an invariant breaks."""
    r = check_path(str(path))
    check_diagnostics(r)
    to_json(r.diagnostics)
    c = compile_path(str(path), sets=sets, models=models)
    check_diagnostics(c)
    if c.errors:
        assert c.graph is None, "errors and a graph"
        return "syntax" if c.program is None else "errors"
    assert c.graph is not None, "no errors but no graph"
    import networkx as nx

    G = c.graph
    assert nx.is_directed_acyclic_graph(G), "the IR graph has a cycle"
    order = G.graph["order"]
    assert sorted(order) == sorted(G.nodes), "order does not list every node once"
    pos = {n: i for i, n in enumerate(order)}
    for a, b in G.edges:
        assert pos[a] < pos[b], f"edge {a}->{b} goes backwards in the run order"
    return "graph"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "bench" / "fuzz-crashes"))
    ap.add_argument("--show", type=int, default=3, help="tracebacks to print")
    args = ap.parse_args(argv)

    sys.setrecursionlimit(1000)  # the default: what users get
    rng = random.Random(args.seed)
    texts = corpus()
    tmp = Path(tempfile.mkdtemp(prefix="collab-fuzz-"))
    # fixture programs import "modules/..." relative to themselves
    shutil.copytree(FIXTURES / "lint" / "modules", tmp / "modules", dirs_exist_ok=True)
    path = tmp / "input.collab"
    crashes: list[tuple[str, str]] = []
    seen_kinds: set[str] = set()
    outcomes = {"syntax": 0, "errors": 0, "graph": 0}
    t0 = time.perf_counter()
    for i in range(args.n):
        text = make_input(rng, texts)
        sets, models = options(rng)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            outcomes[check_one(path, sets, models)] += 1
        except Exception:  # noqa: BLE001 - a crash is what we look for
            tb = traceback.format_exc()
            crashes.append((text, tb))
            kind = tb.strip().splitlines()[-1][:120]
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            (out / f"crash-{args.seed}-{i}.collab").write_text(text, encoding="utf-8", errors="surrogatepass")
            (out / f"crash-{args.seed}-{i}.txt").write_text(f"sets={sets} models={models}\n{tb}")
            if kind not in seen_kinds and len(seen_kinds) < args.show:
                print(f"--- crash on input {i} (sets={sets} models={models}):\n{tb}", file=sys.stderr)
            seen_kinds.add(kind)
    dt = time.perf_counter() - t0
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"inputs: {args.n}  corpus: {len(texts)} programs  crashes: {len(crashes)} "
          f"({len(seen_kinds)} distinct)  time: {dt:.1f} s  throughput: {args.n / dt:.0f} inputs/s")
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.items())
          + "  (syntax: no AST; errors: diagnostics with errors; graph: compiled)")
    if crashes:
        print(f"crashing inputs saved under {args.out}")
    return 1 if crashes else 0


if __name__ == "__main__":
    raise SystemExit(main())
