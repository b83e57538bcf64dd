"""The ``collab`` command line: lint, graph, plan, run, runs, show (CliRunner in-process and
real subprocesses), import hygiene, and the golden mermaid drawings of programs/*.collab.

Set COLLAB_UPDATE_GOLDEN=1 to rewrite tests/collabdsl/golden/*.mmd from the current output."""
from __future__ import annotations

import importlib.machinery
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collabdsl import __version__, cli, lintcmd
from collabdsl.render import DOT_NOT_FOUND

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).resolve().parent / "golden"
PROGRAMS = ("dkt", "cowest", "nesycd", "tinyllm", "scicot")
HEAVY = ("torch", "transformers", "trl", "vllm", "litellm")

runner = CliRunner()

GOOD = textwrap.dedent('''\
    # Paper: a test program
    program tiny "A tiny test program"

    param n: int = 12
    param rounds: int = 2

    model small = embedded("smollm2-135m-instruct") trainable max_tokens 32
    model large = api("openai/gpt-4o-mini") temperature 0.2 max_tokens 64

    data train = load("builtin:science-mc", split: "train", limit: n)
    data a, b = split(train, 0.5, seed: 0)

    prompt ask(q) = "Question: {q}. Answer:"

    repeat rounds as i {
      for x in a {
        x.teacher = large.generate(ask(x.question))
        x.drafts = small.sample(ask(x.question), k: 3, temperature: 1.0)
      }
      train small sft for x in a { input: x.question, target: x.teacher, epochs: 2, batch_size: 2 }
    }

    eval results for x in b metrics accuracy {
      gold x.answer
      "small" = small.choose(ask(x.question), options: x.options)
    }
    ''')
WARN = GOOD.replace('prompt ask(q) = "Question: {q}. Answer:"\n',
                    'prompt ask(q) = "Question: {q}. Answer:"\nprompt unused(q) = "{q}"\n')
BAD = GOOD.replace("split(train, 0.5", "split(trian, 0.5")
SYNTAX = 'program x "y"\ndata = \n'


@pytest.fixture()
def progs(tmp_path):
    out = {}
    for name, text in (("good", GOOD), ("warn", WARN), ("bad", BAD), ("syntax", SYNTAX)):
        p = tmp_path / f"{name}.collab"
        p.write_text(text)
        out[name] = p
    return out


def invoke(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


def run_sub(*args, env=None, cwd=ROOT, flags=()):
    e = {"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "NO_COLOR": "1"}
    e.update(env or {})
    return subprocess.run([sys.executable, *flags, "-m", "collabdsl", *map(str, args)], cwd=cwd, check=False,
                          capture_output=True, text=True, env=e, timeout=300)


# ------------------------------------------------------------------ basics
def test_version():
    r = invoke("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"collab {__version__}"
    r = subprocess.run([sys.executable, "-m", "collabdsl", "--version"], capture_output=True, text=True, check=False,
                       env={"PYTHONPATH": str(ROOT)}, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == f"collab {__version__}"


@pytest.mark.parametrize("cmd,words", [
    ([], ["lint", "graph", "plan", "run", "runs", "show"]),
    (["lint"], ["--strict", "--format"]),
    (["graph"], ["mermaid", "--output", "--set", "--model"]),
    (["plan"], ["--set", "--model", "estimates"]),
    (["run"], ["--resume", "--limit", "--set", "--model"]),
    (["runs"], ["--store"]),
    (["show"], ["RUN"]),
])
def test_help(cmd, words):
    r = invoke(*cmd, "--help")
    assert r.exit_code == 0, r.output
    text = re.sub(r"\s+", " ", r.stdout)
    for w in words:
        assert w in text


def test_no_arguments_shows_help():
    r = invoke()
    assert "Usage" in r.output


# ------------------------------------------------------------------ lint
def test_lint_clean(progs):
    r = invoke("lint", progs["good"])
    assert r.exit_code == 0
    assert r.stdout.strip() == "1 file checked, no problems"


def test_lint_errors_with_source_and_caret(progs):
    r = invoke("lint", progs["bad"])
    assert r.exit_code == 1
    lines = r.stdout.splitlines()
    i = next(i for i, line in enumerate(lines) if "E101 error: undefined name 'trian'" in line)
    assert lines[i].startswith(f"{progs['bad']}:11:19: ")
    assert lines[i + 1] == "    data a, b = split(trian, 0.5, seed: 0)"
    assert lines[i + 2] == "    " + " " * 18 + "^^^^^"
    assert lines[-1] == "1 error, 1 warning in 1 file"


def test_lint_syntax_error(progs):
    r = invoke("lint", progs["syntax"])
    assert r.exit_code == 1
    assert "E001 error: syntax error" in r.stdout


def test_lint_warnings_and_strict(progs):
    r = invoke("lint", progs["warn"])
    assert r.exit_code == 0
    assert "W203 warning" in r.stdout and r.stdout.strip().endswith("0 errors, 1 warning in 1 file")
    assert invoke("lint", "--strict", progs["warn"]).exit_code == 1
    assert invoke("lint", "--strict", progs["good"]).exit_code == 0


def test_lint_json(progs):
    r = invoke("lint", "--format", "json", progs["bad"], progs["good"])
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert {d["code"] for d in data} == {"E101", "W204"}
    assert {"path", "line", "col", "severity", "message"} <= set(data[0])
    r = invoke("lint", "-f", "json", progs["good"])
    assert r.exit_code == 0 and json.loads(r.stdout) == []


def test_lint_folder_and_missing_file(tmp_path, progs):
    r = invoke("lint", tmp_path)
    assert r.exit_code == 1
    assert "in 4 files" in r.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    r = invoke("lint", empty)
    assert r.exit_code == 2 and "no .collab files" in r.output
    r = invoke("lint", tmp_path / "nope.collab")
    assert r.exit_code == 1 and "E003" in r.stdout


def test_lint_fast_path_matches_typer(progs):
    """A subprocess takes the fast path (no typer parsing); CliRunner goes through typer."""
    for args in (["lint", progs["bad"], progs["good"]], ["lint", "--format=json", progs["warn"]],
                 ["lint", "--strict", "-f", "text", progs["warn"]]):
        sub = run_sub(*args)
        inproc = invoke(*args)
        assert sub.returncode == inproc.exit_code
        assert sub.stdout == inproc.stdout


def test_fast_lint_argument_handling(progs, capsys):
    assert lintcmd.fast_lint(["graph", "x"]) is None
    assert lintcmd.fast_lint(["lint"]) is None
    assert lintcmd.fast_lint(["lint", "--help"]) is None
    assert lintcmd.fast_lint(["lint", "--format", "yaml", "x"]) is None
    assert lintcmd.fast_lint(["lint", str(progs["good"])]) == 0
    assert lintcmd.fast_lint(["lint", "--", str(progs["bad"])]) == 1
    capsys.readouterr()


def test_lint_unknown_option_goes_to_typer(progs):
    r = run_sub("lint", "--bogus", progs["good"])
    assert r.returncode == 2 and "bogus" in r.stderr


# ------------------------------------------------------------------ graph
def test_graph_mermaid_stdout_and_file(progs, tmp_path):
    r = invoke("graph", progs["good"])
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("flowchart TD\n")
    assert "repeat 2 × as i" in r.stdout and "-.->" in r.stdout
    out = tmp_path / "g.mmd"
    r = invoke("graph", progs["good"], "-o", out)
    assert r.exit_code == 0 and out.read_text() == invoke("graph", progs["good"]).stdout


def test_graph_dot_and_json(progs):
    r = invoke("graph", progs["good"], "--format", "dot")
    assert r.exit_code == 0 and r.stdout.startswith('digraph "tiny" {') and "subgraph cluster_" in r.stdout
    r = invoke("graph", progs["good"], "--format", "json")
    data = json.loads(r.stdout)
    assert data["graph"]["name"] == "tiny"
    assert any(n["kind"] == "train" for n in data["nodes"])
    assert all(isinstance(n.get("expr"), (dict, type(None))) for n in data["nodes"])


def test_graph_set_changes_graph(progs):
    a = invoke("graph", progs["good"]).stdout
    b = invoke("graph", progs["good"], "--set", "rounds=3").stdout
    assert "repeat 3 × as i" in b and a != b


def test_graph_compile_errors(progs):
    r = invoke("graph", progs["bad"])
    assert r.exit_code == 1
    assert "E101 error: undefined name 'trian'" in r.stderr
    assert "^^^^^" in r.stderr
    assert r.stdout == ""


def test_graph_image_needs_output(progs):
    r = invoke("graph", progs["good"], "--format", "svg")
    assert r.exit_code == 2 and "-o" in r.stderr


def test_graph_image_without_dot(progs, tmp_path):
    r = run_sub("graph", progs["good"], "--format", "png", "-o", tmp_path / "g.png", env={"PATH": str(tmp_path)})
    assert r.returncode == 2
    assert DOT_NOT_FOUND in r.stderr
    assert DOT_NOT_FOUND == ("Graphviz 'dot' not found: install Graphviz (apt-get install graphviz / "
                             "brew install graphviz) or use --format mermaid|dot|json")
    assert not (tmp_path / "g.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not installed")
def test_graph_svg_for_real(progs, tmp_path):
    out = tmp_path / "g.svg"
    r = invoke("graph", progs["good"], "--format", "svg", "-o", out)
    assert r.exit_code == 0, r.output
    assert "<svg" in out.read_text()


# ------------------------------------------------------------------ plan
def test_plan_text(progs):
    r = invoke("plan", progs["good"])
    assert r.exit_code == 0, r.output
    assert "total: 54 model calls" in r.stdout
    assert "model large: api:openai/gpt-4o-mini" in r.stdout
    assert "6 ex/iter, 12 steps" in r.stdout


def test_plan_json_with_set_and_model(progs):
    r = invoke("plan", progs["good"], "--format", "json", "--set", "n=20",
               "--model", "small=hf:HuggingFaceTB/SmolLM2-360M-Instruct")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["params"]["n"] == 20
    assert data["models"]["small"] == {"backend": "hf", "ref": "HuggingFaceTB/SmolLM2-360M-Instruct", "gpus": 1}
    loads = [n for n in data["nodes"] if n["kind"] == "load"]
    assert loads[0]["rows"] == 20


def test_plan_never_prints_secrets(progs):
    r = invoke("plan", progs["good"], "--model", "large=server:http://me:hunter2@127.0.0.1:8000/v1#m")
    assert r.exit_code == 0, r.output
    assert "hunter2" not in r.output
    assert "server:http://127.0.0.1:8000/v1#m" in r.stdout


@pytest.mark.parametrize("args,msg", [
    (["--set", "n"], "expected name=value"),
    (["--set", "=3"], "expected name=value"),
    (["--model", "large"], "expected role=KIND:VALUE"),
    (["--model", "large=openai/gpt-4o"], "KIND one of"),
    (["--model", "large=bogus:x"], "KIND one of"),
    (["--model", "large=api:"], "KIND one of"),
])
def test_bad_set_and_model_syntax(progs, args, msg):
    for cmd in ("plan", "graph", "run"):
        r = invoke(cmd, progs["good"], *args)
        assert r.exit_code == 2, (cmd, r.output)
        assert msg in r.stderr


def test_unknown_param_is_a_compile_error(progs):
    r = invoke("plan", progs["good"], "--set", "nope=3")
    assert r.exit_code == 1 and "no param 'nope'" in r.stderr


# ------------------------------------------------------------------ run / runs / show
def test_run_without_runtime(progs, monkeypatch):
    monkeypatch.setattr(cli, "_has_module", lambda name: False)
    r = invoke("run", progs["good"])
    assert r.exit_code == 2
    assert cli.RUNTIME_MISSING in r.stderr
    assert cli.RUNTIME_MISSING == ("collab run: the runtime is not available yet in this version; "
                                   "use `collab plan` to see what would run")
    for cmd in (["runs"], ["show", "x"]):
        r = invoke(*cmd)
        assert r.exit_code == 2 and "not available" in r.stderr


def test_run_compile_errors_come_first(progs, monkeypatch):
    monkeypatch.setattr(cli, "_has_module", lambda name: False)
    r = invoke("run", progs["bad"])
    assert r.exit_code == 1 and "E101" in r.stderr


@dataclass
class FakeOutcome:
    run_id: str
    status: str
    results: list = field(default_factory=list)
    seconds: float = 1.5
    error: str | None = None


def _fake_runtime(monkeypatch, status="finished"):
    calls = []
    mod = types.ModuleType("runtime.run")
    mod.__spec__ = importlib.machinery.ModuleSpec("runtime.run", None)

    def run_graph(graph, *, program_path, sources, store_path=None, resume=False, limit=None, seed=0,
                  console=None):
        calls.append(dict(path=program_path, params=graph.graph["params"], models=graph.graph["models"],
                          resume=resume, limit=limit, store_path=store_path))
        return FakeOutcome("r-1", status, [{"table": "results", "iteration": None, "system": "small", "n": 6,
                                            "accuracy": 0.5}], error=None if status == "finished" else "boom")

    mod.run_graph = run_graph
    monkeypatch.setitem(sys.modules, "runtime.run", mod)
    return calls


def test_run_delegates_to_the_runtime(progs, monkeypatch, tmp_path):
    calls = _fake_runtime(monkeypatch)
    r = invoke("run", progs["good"], "--set", "n=4", "--model", "large=api:openai/gpt-4o", "--resume",
               "--limit", "3", "--store", tmp_path / "s.db")
    assert r.exit_code == 0, r.output
    assert len(calls) == 1
    call = calls[0]
    assert call["path"] == str(progs["good"]) and call["params"]["n"] == 4
    assert call["models"]["large"]["backend"] == "api" and call["models"]["large"]["ref"] == "openai/gpt-4o"
    assert (call["resume"], call["limit"], call["store_path"]) == (True, 3, str(tmp_path / "s.db"))
    assert "run r-1: finished" in r.stdout
    assert "accuracy" in r.stdout and "0.5" in r.stdout


def test_run_failure_exit_code(progs, monkeypatch):
    _fake_runtime(monkeypatch, status="failed")
    r = invoke("run", progs["good"])
    assert r.exit_code == 1 and "boom" in r.stderr and "--resume" in r.stderr


def test_runs_and_show(tmp_path):
    pytest.importorskip("sqlite_utils")
    from runtime.store import RunStore

    db = tmp_path / "runs.db"
    r = invoke("runs", "--store", db)
    assert r.exit_code == 0 and "no runs yet" in r.stdout
    with RunStore(db) as s:
        rid = s.start_run("programs/x.collab", "x", "h", {"n": 3}, {"large": "api:openai/gpt-4o-mini"})
        s.node_start(rid, "n3", kind="generate")
        s.add_node_stats(rid, "n3", calls=6, prompt_tokens=100, completion_tokens=50)
        s.node_done(rid, "n3")
        s.add_metrics(rid, "n9", [{"system": "small", "metric": "accuracy", "value": 0.25, "n": 4}],
                      table_name="results")
        s.finish_run(rid, "finished")
    r = invoke("runs", "--store", db)
    assert r.exit_code == 0 and rid in r.stdout and "finished" in r.stdout
    assert json.loads(invoke("runs", "--store", db, "--format", "json").stdout)[0]["id"] == rid
    for ref in (rid, "latest"):
        r = invoke("show", ref, "--store", db)
        assert r.exit_code == 0, r.output
        assert f"run {rid}: x" in r.stdout and "n3" in r.stdout and "0.25" in r.stdout
        assert "large=api:openai/gpt-4o-mini" in r.stdout
    data = json.loads(invoke("show", rid, "--store", db, "-f", "json").stdout)
    assert data["run"]["id"] == rid and data["results"][0]["accuracy"] == 0.25
    r = invoke("show", "nope", "--store", db)
    assert r.exit_code == 1 and "no run 'nope'" in r.stderr


# ------------------------------------------------------------------ import hygiene
def _imported(stderr: str) -> set:
    return {m.group(1).strip() for m in re.finditer(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)", stderr, re.MULTILINE)}


def test_lint_imports_stay_light(progs):
    r = run_sub("lint", progs["good"], progs["warn"], flags=("-X", "importtime"))
    assert r.returncode == 0, r.stderr[-2000:]
    mods = _imported(r.stderr)
    assert "collabdsl.compiler" in mods and "lark" in mods
    roots = {m.split(".")[0] for m in mods}
    light = {*HEAVY, "networkx", "rich", "pydantic", "typer", "click"}
    assert not roots & light, roots & light
    assert not {"collabdsl.render", "collabdsl.plan"} & mods


@pytest.mark.parametrize("args", [["graph", "{good}", "-f", "json"], ["plan", "{good}"]])
def test_graph_and_plan_import_no_heavy_libraries(progs, args):
    r = run_sub(*[a.format(good=progs["good"]) for a in args], flags=("-X", "importtime"))
    assert r.returncode == 0, r.stderr[-2000:]
    roots = {m.split(".")[0] for m in _imported(r.stderr)}
    assert "networkx" in roots
    assert not roots & set(HEAVY), roots & set(HEAVY)


# ------------------------------------------------------------------ golden drawings of the programs
EXAMPLES = ("debate", "star", "constitutional", "router")  # issue 12's schemes, each with its drawing


@pytest.mark.parametrize("name", PROGRAMS + tuple(f"examples/{e}" for e in EXAMPLES))
def test_golden_mermaid(name):
    program = ROOT / ("" if "/" in name else "programs") / f"{name}.collab"
    assert program.exists(), program
    r = invoke("graph", program, "--format", "mermaid")
    assert r.exit_code == 0, r.output
    golden = GOLDEN / f"{name}.mmd"
    if os.environ.get("COLLAB_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(r.stdout, encoding="utf-8")
    if not golden.exists():
        pytest.fail(f"{golden} missing: run COLLAB_UPDATE_GOLDEN=1 pytest {Path(__file__).name}")
    assert r.stdout == golden.read_text(encoding="utf-8"), (
        f"the mermaid drawing of {program.name} changed; if intended, rerun with COLLAB_UPDATE_GOLDEN=1")


# ------------------------------------------------------------------ profiles
PROFILED = GOOD.replace("param rounds: int = 2\n", textwrap.dedent('''\
    param rounds: int = 2

    profile quick default "a smoke run" {
      n = 4
      rounds = 1
    }
    profile wide { n = 40 }
    '''))


@pytest.mark.parametrize("args,n,rounds,shown", [
    ((), 4, 1, "profile quick (the default): n=4, rounds=1"),
    (("--profile", "wide"), 40, 2, "profile wide: n=40"),
    (("--profile", "none"), 12, 2, None),
    (("--profile", "quick", "--set", "n=6"), 6, 1, "profile quick: n=6 (--set), rounds=1"),  # --set wins
])
def test_plan_applies_profiles(tmp_path, args, n, rounds, shown):
    p = tmp_path / "profiled.collab"
    p.write_text(PROFILED)
    r = invoke("plan", p, "--format", "json", *args)
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert (data["params"]["n"], data["params"]["rounds"]) == (n, rounds)
    assert [x["rows"] for x in data["nodes"] if x["kind"] == "load"] == [n]
    if shown:
        assert shown in r.stderr
    else:
        assert "profile" not in r.stderr


def test_unknown_profile_is_a_usage_error(tmp_path):
    p = tmp_path / "profiled.collab"
    p.write_text(PROFILED)
    r = invoke("plan", p, "--profile", "fast")
    assert r.exit_code == 1
    assert "no profile 'fast'" in r.stderr and "profiles: quick, wide" in r.stderr


def test_every_program_has_a_default_profile_that_only_sizes_the_run():
    """The shipped programs keep the paper's values as param defaults; their default
    profile (the embedded run) only changes data sizes, token limits, epochs and batch
    sizes, never a method's hyperparameter (lr, thresholds, k, beta ...)."""
    import re as _re

    from collabdsl import ast as A
    from collabdsl.compiler import check_path

    sizing = _re.compile(r"^(n_\w+|\w*max_tokens|\w*epochs|\w*batch_size)$")
    for name in PROGRAMS:
        prog = check_path(str(ROOT / "programs" / f"{name}.collab")).program
        defaults = [p for p in prog.body if isinstance(p, A.Profile) and p.is_default]
        assert len(defaults) == 1, name
        assert defaults[0].doc, name
        for ps in defaults[0].sets:
            assert sizing.match(str(ps.name)), (name, str(ps.name))


def test_shipped_programs_examples_and_stdlib_lint_strictly_clean():
    """CI lints every shipped .collab file: no error and no warning."""
    r = invoke("lint", "--strict", ROOT / "programs", ROOT / "examples", ROOT / "stdlib")
    assert r.exit_code == 0, r.output
    shipped = [p for d in ("programs", "examples", "stdlib") for p in (ROOT / d).glob("*.collab")]
    assert len(shipped) >= 12
    assert r.stdout.strip() == f"{len(shipped)} files checked, no problems"
