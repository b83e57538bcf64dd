"""``collab sweep``: settings x seeds as runs of one sweep, resume, reuse, bad input, ablations,
the summary's intervals and marks, and the plan. A fake backend and a fake trainer keep these
fast; one test runs the cascade example on the embedded model (slow)."""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from collabdsl import cli  # noqa: E402
from runtime import stats  # noqa: E402
from runtime.executors.base import Generation  # noqa: E402
from runtime.store import RunStore  # noqa: E402
from runtime.sweep import Setting, expand, run_sweep  # noqa: E402
from runtime.sweepsummary import summarize  # noqa: E402
from runtime_testing import fake_trainer, write_program  # noqa: E402

runner = CliRunner()

ROWS = [{"question": f"q{i}", "answer": "yes" if i % 2 else "no"} for i in range(6)]

PROG = """
program swept "a param the training does not read, an ablation that drops the training"
param p: float = 0.5
param no_train: bool = false ablation "w/o training"
model small = embedded("smollm2-135m-instruct") trainable max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
if not no_train {
  model tuned = train small sft for x in d { input: x.question, target: x.answer }
}
for x in d {
  x.reply = small.generate(x.question)
  x.flag = p > 0.6
}
eval results for x in d metrics accuracy {
  gold x.answer
  "small" = x.reply
  "tuned" = tuned.generate(x.question) if not no_train
}
eval share for x in d metrics mean {
  "flagged" = x.flag
}
"""


def fake_backend(monkeypatch, reply=lambda r: "yes", fail: dict | None = None) -> list:
    """A backend answering ``reply(request)``; ``fail["on"]`` set: it raises instead."""
    seen = []

    class Exec:
        batch_size = 64

        def __init__(self, spec):
            pass

        def generate(self, reqs):
            if fail and fail.get("on"):
                raise RuntimeError("backend down")
            seen.extend(reqs)
            return [[Generation(text=reply(r), prompt_tokens=1, completion_tokens=1) for _ in range(r.n)]
                    for r in reqs]

        def close(self):
            pass

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Exec(spec))
    return seen


def sweep(*args):
    return runner.invoke(cli.app, ["sweep", *[str(a) for a in args]])


@pytest.fixture
def prog(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return write_program(tmp_path, PROG, ROWS)


# ------------------------------------------------------------------ grid x seeds, resume, reuse
def test_grid_x_seeds_records_each_setting_and_a_rerun_skips_them(prog, tmp_path, monkeypatch):
    seen, trained = fake_backend(monkeypatch), fake_trainer(monkeypatch)
    db = tmp_path / "runs.db"
    r = sweep(prog, "--grid", "p=0.5,0.7", "--seeds", "0,1", "--store", db)
    assert r.exit_code == 0, r.output
    with RunStore(db, readonly=True) as s:
        (sw,) = s.list_sweeps()
        runs = s.sweep_runs(sw["id"])
        assert sw["grid"] == {"p": [0.5, 0.7]} and sw["seeds"] == [0, 1] and sw["status"] == "finished"
        assert [r["setting"] for r in runs] == [{"p": p, "seed": s, "ablation": None}
                                               for p in (0.5, 0.7) for s in (0, 1)]
        assert [r["params"]["p"] for r in runs] == [0.5, 0.5, 0.7, 0.7]
        assert [r["settings"]["seed"] for r in runs] == [0, 1, 0, 1]
        assert all(r["status"] == "finished" for r in runs)
    # the training reads no p: trained once per seed, reused by the other p
    assert len(trained) == 2
    calls = len(seen)
    again = sweep(prog, "--grid", "p=0.5,0.7", "--seeds", "0,1", "--store", db)
    assert again.exit_code == 0, again.output
    assert len(seen) == calls and len(trained) == 2  # nothing ran again
    assert again.output.count("finished before, skipped") == 4
    with RunStore(db, readonly=True) as s:
        assert len(s.list_sweeps()) == 1 and len(s.list_runs()) == 4


def test_a_failed_setting_stops_the_sweep_and_the_rerun_resumes_it(prog, tmp_path, monkeypatch):
    fake_backend(monkeypatch)
    trained = fake_trainer(monkeypatch)
    from runtime import trainer

    ok_train, fail = trainer.train, {"on": True}

    def train(*a, **kw):  # the second training (seed 1) fails once
        if fail["on"] and len(trained) == 1:
            raise RuntimeError("out of memory")
        return ok_train(*a, **kw)

    monkeypatch.setattr(trainer, "train", train)
    db = tmp_path / "runs.db"
    args = (prog, "--seeds", "0,1,2", "--store", db)
    r = sweep(*args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert "error:" in r.output and "out of memory" in r.output
    with RunStore(db, readonly=True) as s:
        (sw,) = s.list_sweeps()
        runs = s.sweep_runs(sw["id"])
        assert sw["status"] == "failed" and [x["status"] for x in runs] == ["finished", "failed"]
    assert "seed=2: run - not run" not in r.output  # a setting after the failure does not start
    fail["on"] = False
    r = sweep("--resume", "--store", db)  # the newest unfinished sweep, as it was started
    assert r.exit_code == 0, r.output
    assert f"continuing sweep {sw['id']}" in r.output
    with RunStore(db, readonly=True) as s:
        assert len(s.list_sweeps()) == 1
        again = s.sweep_runs(sw["id"])
        assert [x["id"] for x in again[:2]] == [x["id"] for x in runs]  # the failed one resumed, not a new run
        assert [x["status"] for x in again] == ["finished"] * 3 and s.get_sweep(sw["id"])["status"] == "finished"
    assert r.output.count("finished before, skipped") == 1 and len(trained) == 3


def test_run_sweep_resumes_an_interrupted_setting_by_its_run_id(tmp_path):
    """The sweep logic alone, with a fake executor: finished settings are skipped, an
    interrupted one is run again with resume_run, the others start fresh."""
    db = tmp_path / "runs.db"
    items = [(st, None, {}) for st in expand({"k": [("1", 1), ("3", 3)]}, [0, 1])]
    with RunStore(db) as s:
        sid = s.add_sweep("p.collab", "p", {"k": [1, 3]}, [0, 1], key="k")
        done = s.start_run("p.collab", sweep_id=sid, setting=items[0][0].record())
        s.finish_run(done)
        cut = s.start_run("p.collab", sweep_id=sid, setting=items[1][0].record())
        s.finish_run(cut, "interrupted")
        sweep_rec = s.get_sweep(sid)
    given = []

    class Out:
        def __init__(self, run_id):
            self.run_id, self.status, self.seconds, self.error, self.stats = run_id, "finished", 0.0, None, {}

    def fake_run(G, **kw):
        given.append((kw["setting"], kw["resume_run"], kw["seed"]))
        with RunStore(kw["store_path"]) as s:
            rid = kw["resume_run"] or s.start_run("p.collab", sweep_id=kw["sweep_id"], setting=kw["setting"])
            s.finish_run(rid)
        return Out(rid)

    out = run_sweep(db, sweep_rec, items, program_path="p.collab", limit=None, run=fake_run)
    assert out.status == "finished"
    assert [r.status for r in out.results] == ["skipped", "finished", "finished", "finished"]
    assert given[0] == ({"k": 1, "seed": 1, "ablation": None}, cut, 1)
    assert [g[1] for g in given[1:]] == [None, None]


# ------------------------------------------------------------------ bad input: one line
@pytest.mark.parametrize("grid, message", [
    ("p=0.5,abc", "--grid p=abc: expected a number"),
    ("q=1,2", "--grid q: no param 'q' in"),
    ("p=0.5,0.50", "--grid p: two values are the same float"),
    ("p=0.5,", "--grid 'p=0.5,': an empty value"),
    ("p", "--grid 'p': expected name=value,value"),
])
def test_bad_grid_is_one_line_before_anything_runs(prog, tmp_path, monkeypatch, grid, message):
    seen = fake_backend(monkeypatch)
    r = sweep(prog, "--grid", grid, "--store", tmp_path / "runs.db")
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), r.output
    assert seen == [] and not (tmp_path / "runs.db").exists()


def test_other_bad_sweeps_are_one_line(prog, tmp_path, monkeypatch):
    fake_backend(monkeypatch)
    for args, message in [(("--grid", "p=0.5", "--set", "p=0.7"), "--grid p: also given by --set p"),
                          (("--grid", "no_train=true,false", "--ablations"), "--grid no_train: 'no_train' is an "
                                                                                "ablation switch"),
                          (("--seeds", "0,0"), "--seeds 0,0: a seed is given twice"),
                          ((), "collab sweep: nothing to sweep")]:
        r = sweep(prog, *args, "--store", tmp_path / "runs.db")
        assert r.exit_code == 2 and r.output.strip().startswith(message) and len(r.output.strip().splitlines()) == 1, \
            r.output
    cascade = ROOT / "examples" / "cascade.collab"
    r = sweep(cascade, "--ablations", "--store", tmp_path / "runs.db")
    assert r.exit_code == 2 and "no param of" in r.output and "is marked as an ablation" in r.output


# ------------------------------------------------------------------ ablations
def test_expand_orders_full_then_each_ablation_then_seeds():
    got = expand({"k": [("1", 1)]}, [0, 1], {"no_a": ("w/o A", False), "no_b": ("w/o B", False)})
    assert [(s.ablation, s.seed, s.flip) for s in got] == [
        (None, 0, {}), (None, 1, {}), ("w/o A", 0, {"no_a": True}), ("w/o A", 1, {"no_a": True}),
        ("w/o B", 0, {"no_b": True}), ("w/o B", 1, {"no_b": True})]
    assert got[2].raw == {"k": "1", "no_a": "true"} and got[2].record() == {"k": 1, "seed": 0, "ablation": "w/o A"}


def test_ablations_run_each_switch(prog, tmp_path, monkeypatch):
    fake_backend(monkeypatch)
    trained = fake_trainer(monkeypatch)
    db = tmp_path / "runs.db"
    r = sweep(prog, "--ablations", "--store", db)
    assert r.exit_code == 0, r.output
    with RunStore(db, readonly=True) as s:
        (sw,) = s.list_sweeps()
        runs = s.sweep_runs(sw["id"])
    assert sw["ablations"] == ["w/o training"]
    assert [(x["setting"]["ablation"], x["params"]["no_train"]) for x in runs] == [(None, False),
                                                                                    ("w/o training", True)]
    assert len(trained) == 1  # the ablated setting trains nothing
    assert "w/o training" in r.output and "(full) (reference)" in r.output


# ------------------------------------------------------------------ summary
def test_summary_intervals_and_marks(prog, tmp_path, monkeypatch):
    """Seeds that agree: bootstrap over rows; a difference on every row is marked."""
    fake_backend(monkeypatch, reply=lambda r: "yes")  # right on half of the rows
    fake_trainer(monkeypatch)
    db = tmp_path / "runs.db"
    r = sweep(prog, "--grid", "p=0.5,0.7", "--seeds", "0,1", "--store", db, "--format", "json")
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output[r.output.index("{"):r.output.rindex("}") + 1])
    by = {(t["table"], row["label"], row["system"]): row for t in summary["tables"] for row in t["rows"]}
    acc = by[("results", "p=0.5", "small")]["cells"]["accuracy"]
    assert acc["mean"] == 0.5 and acc["method"] == "bootstrap" and acc["rows"] == 6
    expect = stats.bootstrap_interval([0, 1, 0, 1, 0, 1])
    assert (acc["low"], acc["high"]) == (expect.low, expect.high)
    assert by[("results", "p=0.7", "small")]["cells"]["accuracy"]["differs"] is False  # the same answers
    flagged = by[("share", "p=0.7", "flagged")]["cells"]["mean"]
    assert flagged["mean"] == 1.0 and flagged["differs"] is True and flagged["test"] == "paired bootstrap"
    assert by[("share", "p=0.5", "flagged")]["reference"] is True


def test_summary_t_interval_over_seeds_matches_hand_computed(tmp_path):
    """Seeds that differ: the t interval; non-overlapping intervals are marked."""
    db = tmp_path / "runs.db"
    with RunStore(db) as s:
        sid = s.add_sweep("p.collab", "p", {"k": [1, 2]}, [0, 1, 2], key="x")
        for k, vals in ((1, [0.5, 0.6, 0.7]), (2, [0.9, 0.95, 1.0])):
            for seed, v in enumerate(vals):
                rid = s.start_run("p.collab", sweep_id=sid, setting={"k": k, "seed": seed, "ablation": None})
                s.add_metrics(rid, "e1", [{"system": "sys", "metric": "accuracy", "value": v, "n": 10}],
                              table_name="results")
                s.finish_run(rid)
        summary = summarize(s, sid)
    (t,) = summary["tables"]
    a, b = (row["cells"]["accuracy"] for row in t["rows"])
    # hand: mean 0.6, s = 0.1, t(0.975, 2) = 4.302653, half = 4.302653 * 0.1 / sqrt(3) = 0.248414
    assert a["method"] == "t" and math.isclose(a["mean"], 0.6)
    assert math.isclose(a["low"], 0.6 - 0.248414, abs_tol=1e-6) and math.isclose(a["high"], 0.848414, abs_tol=1e-6)
    # 0.95 +- 4.302653 * 0.05 / sqrt(3) = 0.95 +- 0.124207: [0.825793, 1.074207] overlaps [0.352, 0.848]
    assert math.isclose(b["low"], 0.825793, abs_tol=1e-6) and b["differs"] is False and b["test"] == "t intervals"


# ------------------------------------------------------------------ plan
def test_plan_counts_reuse_before_running(prog, tmp_path, monkeypatch):
    seen = fake_backend(monkeypatch)
    fake_trainer(monkeypatch)
    db = tmp_path / "runs.db"
    r = sweep(prog, "--grid", "p=0.5,0.7", "--store", db, "--plan")
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.output.splitlines() if ln.startswith("p=")]
    assert "0 reused, 2 new" in lines[0] and "2 reused, 0 new" in lines[1], r.output  # ops reused in setting 2
    assert "0 reused, 1 new" in lines[0] and "1 reused, 0 new" in lines[1]  # its training too
    assert "at most" in r.output and seen == [] and not db.exists()
    assert sweep(prog, "--grid", "p=0.5,0.7", "--store", db).exit_code == 0
    r = sweep(prog, "--grid", "p=0.5,0.7", "--store", db, "--plan")
    assert r.output.count("finished before: nothing runs") == 2
    r = runner.invoke(cli.app, ["plan", str(prog), "--grid", "p=0.5,0.9", "--store", str(db)])
    assert r.exit_code == 0 and "p=0.5, seed=0" in r.output and "finished before" not in r.output
    assert "2 reused, 0 new" in r.output  # the operations p=0.5 finished are in the store


def test_show_prints_a_recorded_sweep(prog, tmp_path, monkeypatch):
    fake_backend(monkeypatch)
    fake_trainer(monkeypatch)
    db = tmp_path / "runs.db"
    assert sweep(prog, "--grid", "p=0.5,0.7", "--store", db).exit_code == 0
    r = sweep("--show", "latest", "--store", db)
    assert r.exit_code == 0 and "p=0.7" in r.output and "flagged" in r.output and "* differs" in r.output
    with RunStore(db, readonly=True) as s:
        sid = s.list_sweeps()[0]["id"]
    shown = runner.invoke(cli.app, ["show", sid, "--store", str(db)])  # collab show SWEEP: the same summary
    assert shown.exit_code == 0 and shown.output == r.output
    r = sweep("--show", "sweep-nope", "--store", db)
    assert r.exit_code == 1 and r.output.strip() == f"collab sweep --show: no sweep 'sweep-nope' in {db}"


# ------------------------------------------------------------------ the embedded model
@pytest.mark.slow
def test_cascade_sweep_on_the_embedded_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cascade = ROOT / "examples" / "cascade.collab"
    db = tmp_path / "runs.db"
    args = (cascade, "--grid", "threshold=0.0,1.0", "--seeds", "0,1", "--set", "n_test=4", "--store", db)
    r = sweep(*args)
    assert r.exit_code == 0, r.output
    with RunStore(db, readonly=True) as s:
        (sw,) = s.list_sweeps()
        runs = s.sweep_runs(sw["id"])
        assert [x["setting"]["threshold"] for x in runs] == [0.0, 0.0, 1.0, 1.0]
        calls = {x["id"]: sum(n["calls"] or 0 for n in s.list_nodes(x["id"])) for x in runs}
    assert calls[runs[0]["id"]] > 0 and calls[runs[1]["id"]] == 0  # seed 1: deterministic calls, from the cache
    # threshold 1.0 sends every question to the large model, 0.0 none: marked
    assert "share of questions sent to the large model  1.000 [1.000, 1.000] *" in " ".join(r.output.split("\n"))
    again = sweep(*args)
    assert again.exit_code == 0 and again.output.count("finished before, skipped") == 4


def test_an_ablation_row_is_compared_with_the_row_it_replaces(tmp_path):
    """NesyCD labels its ablated row "w/o k^m": compared with the full method's "NesyCD"."""
    db = tmp_path / "runs.db"
    with RunStore(db) as s:
        sid = s.add_sweep("p.collab", "p", {}, [0], ablations=["w/o k^m"], key="x")
        for abl, label, scores in ((None, "NesyCD", [1, 1, 1, 1, 1, 1, 1, 1]),
                                   ("w/o k^m", "w/o k^m", [0, 0, 0, 0, 0, 0, 0, 1])):
            rid = s.start_run("p.collab", sweep_id=sid, setting={"seed": 0, "ablation": abl})
            rows = {"Zero-shot": [1, 0] * 4, label: scores}
            s.add_metrics(rid, "e1", [{"system": k, "metric": "accuracy", "value": sum(v) / 8, "n": 8}
                                      for k, v in rows.items()], table_name="results")
            s.add_eval_scores(rid, "e1", [f"test:{i}" for i in range(8)],
                              {k: {"accuracy": v} for k, v in rows.items()})
            s.finish_run(rid)
        summary = summarize(s, sid)
    rows = {(r["label"], r["system"]): r for r in summary["tables"][0]["rows"]}
    ablated = rows[("w/o k^m", "w/o k^m")]
    assert ablated["compared_with"] == "NesyCD" and ablated["cells"]["accuracy"]["differs"] is True
    assert rows[("w/o k^m", "Zero-shot")]["compared_with"] is None
    assert rows[("w/o k^m", "Zero-shot")]["cells"]["accuracy"]["differs"] is False
    assert rows[("(full)", "NesyCD")]["reference"] is True


def test_an_edited_data_file_makes_a_new_sweep(prog, tmp_path, monkeypatch):
    """A finished setting is skipped only on the inputs it ran on."""
    fake_backend(monkeypatch)
    fake_trainer(monkeypatch)
    db = tmp_path / "runs.db"
    assert sweep(prog, "--grid", "p=0.5,0.7", "--store", db).exit_code == 0
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS[:4]))
    r = sweep(prog, "--grid", "p=0.5,0.7", "--store", db)
    assert r.exit_code == 0 and "finished before" not in r.output
    with RunStore(db, readonly=True) as s:
        new, old = s.list_sweeps()
        assert [x["params"]["p"] for x in s.sweep_runs(new["id"])] == [0.5, 0.7]
        assert by_label(summarize(s, new["id"]))["p=0.5"]["n"] == [4]
        assert by_label(summarize(s, old["id"]))["p=0.5"]["n"] == [6]


def by_label(summary: dict) -> dict:
    return {r["label"]: r for t in summary["tables"] for r in t["rows"] if t["table"] == "results"}


def test_a_busy_sweep_is_one_line_and_a_repeated_seed_counts_once(prog, tmp_path, monkeypatch):
    from runtime.runlock import RunLock

    fake_backend(monkeypatch)
    fake_trainer(monkeypatch)
    db = tmp_path / "runs.db"
    assert sweep(prog, "--grid", "p=0.5,0.7", "--store", db).exit_code == 0
    with RunStore(db) as s:
        sw = s.list_sweeps()[0]
        first = s.sweep_runs(sw["id"])[0]
        dup = s.start_run(prog, sweep_id=sw["id"], setting=first["setting"])  # the same setting and seed again
        s.add_metrics(dup, "x", [{"system": "small", "metric": "accuracy", "value": 0.25, "n": 6}],
                      table_name="results")
        s.finish_run(dup)
        summary = summarize(s, sw["id"])
    row = by_label(summary)["p=0.5"]
    assert row["seeds"] == "1/2" and row["cells"]["accuracy"]["mean"] == 0.25
    assert any("repeat a seed" in n and first["id"] in n for n in summary["notes"])
    lock = RunLock(db, sw["id"]).acquire()  # another process runs the sweep
    try:
        r = sweep(prog, "--grid", "p=0.5,0.7", "--store", db)
    finally:
        lock.release()
    assert r.exit_code == 1 and r.output.strip().splitlines()[-1].startswith(f"collab sweep: sweep {sw['id']} is busy")


def test_row_intervals_do_not_depend_on_the_process(tmp_path):
    """The bootstrap draws rows by position: their order is the data's, never a set's (whose
    order changes with PYTHONHASHSEED from one process to the next)."""
    import subprocess

    db = tmp_path / "runs.db"
    with RunStore(db) as s:
        sid = s.add_sweep("p.collab", "p", {}, [0, 1], key="x")
        for seed in (0, 1):
            rid = s.start_run("p.collab", sweep_id=sid, setting={"seed": seed, "ablation": None})
            scores = [1 if i in (3, 7, 11, 19, 23, 31) else 0 for i in range(40)]  # a set's order: [0.05, 0.275]
            s.add_metrics(rid, "e", [{"system": "s", "metric": "accuracy", "value": 0.15, "n": 40}],
                          table_name="t")
            s.add_eval_scores(rid, "e", [f"test:{i}" for i in range(40)], {"s": {"accuracy": scores}})
            s.finish_run(rid)
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from runtime.store import RunStore; "
            f"from runtime.sweepsummary import summarize; "
            f"c = summarize(RunStore({str(db)!r}, readonly=True), {sid!r})['tables'][0]['rows'][0]['cells']['accuracy']; "
            f"print(c['low'], c['high'])")
    got = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONHASHSEED": str(h), "PATH": "/usr/bin:/bin"}).stdout for h in (1, 2, 3, 4)}
    assert got == {"0.05 0.25\n"}, got


def test_a_summary_that_fails_is_one_line_and_the_runs_stay(prog, tmp_path, monkeypatch):
    fake_backend(monkeypatch)
    fake_trainer(monkeypatch)

    def broken(store, sweep_id):
        raise ValueError("no such column")

    monkeypatch.setattr("runtime.sweepsummary.summarize", broken)
    db = tmp_path / "runs.db"
    r = sweep(prog, "--grid", "p=0.5,0.7", "--store", db)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "collab sweep: the summary could not be made (ValueError: no such column); the runs are recorded" in r.output
    with RunStore(db, readonly=True) as s:
        assert [x["status"] for x in s.sweep_runs(s.list_sweeps()[0]["id"])] == ["finished", "finished"]
