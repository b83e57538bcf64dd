"""`collab report RUN|SWEEP` (runtime.htmlreport, runtime.sweepreport): one self-contained HTML
file and its PNGs. Stores made by hand here (no model): a run without loop or training leaves
those sections out with a note, a failed run says so, a sweep shows means with 95% intervals
over seeds, a missing store or run is one line. The report of a real run, opened in headless
Chromium, is in test_htmlreport_browser.py."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collabdsl import cli
from runtime.store import RunStore, program_hash

pytest.importorskip("matplotlib", reason="collab report needs matplotlib (the report extra)")

CASCADE = """program cas "a cascade"
param threshold: float = 0.5
model small = embedded("smollm2-135m-instruct")
model large = embedded("smollm2-135m-instruct") frozen
data d = load("builtin:commonsense-mc", split: "test", limit: 4, columns: {question: "question", options: "options", answer: "answer"})
for x in d {
  s = small.choose(x.question, options: x.options, confidence: option_prob)
  x.escalated = s.confidence < threshold
  if x.escalated {
    x.cascade = large.choose(x.question, options: x.options).answer
  } else {
    x.cascade = s.answer
  }
}
eval results for x in d metrics accuracy {
  gold x.answer
  "small" = small.choose(x.question, options: x.options)
  "large" = large.choose(x.question, options: x.options)
  "cascade" = x.cascade
}
"""
# node ids of CASCADE (collab graph): n1 small (all rows), n4 large (escalated rows),
# n7 small and n8 large (the eval's systems), n11 the eval
CALLS = {"n1": 4, "n4": 1, "n7": 4, "n8": 4}
KINDS = {"n0": "load", "n1": "choose", "n4": "choose", "n7": "choose", "n8": "choose", "n11": "eval"}


def _record(st: RunStore, prog: Path, status="finished", error=None, acc=(0.5, 0.75, 0.75), **run) -> str:
    rid = st.start_run(prog, "cas", program_hash(prog), {"threshold": run.pop("threshold", 0.5)},
                       {"small": "embedded:smollm2-135m-instruct"}, **run)
    st.plan_nodes(rid, [{"node_id": n, "kind": k} for n, k in KINDS.items()])
    for n, calls in CALLS.items():
        st.node_start(rid, n)
        st.node_done(rid, n, stats={"calls": calls, "prompt_tokens": 10 * calls})
    st.add_metrics(rid, "n11", [{"system": s, "metric": "accuracy", "value": v, "n": 4}
                                for s, v in zip(("small", "large", "cascade"), acc)], table_name="results")
    st.node_start(rid, "n11")
    st.node_done(rid, "n11")
    st.finish_run(rid, status, error)
    return rid


@pytest.fixture
def store(tmp_path):
    prog = tmp_path / "cas.collab"
    prog.write_text(CASCADE)
    with RunStore(tmp_path / "runs.db") as st:
        yield st, prog


def _report(tmp_path, target, *extra):
    r = CliRunner().invoke(cli.app, ["report", target, "--store", str(tmp_path / "runs.db"),
                                     "--out", str(tmp_path / "out" / "rep.html"), *extra])
    return r, tmp_path / "out" / "rep.html"


def _notes(text: str) -> list[str]:
    return re.findall(r'class="note">([^<]*)<', text)


def test_a_run_without_loop_or_training_leaves_those_sections_out_with_a_note(tmp_path, store):
    st, prog = store
    rid = _record(st, prog)
    r, out = _report(tmp_path, rid)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    notes = _notes(text)
    assert "no evaluation inside a loop in this run" in notes and "no training in this run" in notes
    files = sorted(p.name for p in (tmp_path / "out" / "rep_files").iterdir())
    assert files == ["operations.png", "pareto.png"]  # no iterations.png, no losses.png
    assert text.count("<img ") == 2 and "data:image/png;base64," in text
    # self-contained: no script, no external reference (the SVG namespace is a name, not a load)
    assert "<script" not in text
    assert not [u for u in re.findall(r'(?:src|href)="([^"#][^"]*)"', text) if not u.startswith("data:")]
    # the result table as collab show has it, with the rows evaluated
    assert re.search(r"<td>cascade</td><td>0.75</td><td>4</td>", text)
    # Pareto: large requests per row, from the operations each system's column comes from
    assert "the requests (calls made plus cache hits) to role &#x27;large&#x27;" in text
    # per node and per role: calls, tokens
    assert re.search(r"<td>large</td><td>5</td><td>0</td><td>50</td>", text)  # n4 + n8: 5 calls, 50 tokens in
    assert "<svg" in text and "load builtin:commonsense-mc [test]" in text  # the program's graph, inline


def test_the_pareto_points_are_the_large_calls_of_each_systems_operations(tmp_path, store):
    from runtime.htmlreport import system_costs
    from runtime.reportgraph import load_program

    st, prog = store
    rid = _record(st, prog)
    p = load_program(st.get_run(rid))
    assert p.G is not None, p.note
    nodes = {n["node_id"]: n for n in st.list_nodes(rid)}
    costs = system_costs(p, nodes, "n11", "large")
    assert {s: c["large"] for s, c in costs.items()} == {"small": 0, "large": 4, "cascade": 1}
    assert costs["cascade"]["requests"] == 5  # the small model on every row, the large one on one


def test_a_changed_program_is_not_drawn_and_says_why(tmp_path, store):
    st, prog = store
    rid = _record(st, prog)
    prog.write_text(CASCADE.replace("limit: 4", "limit: 5"))
    r, out = _report(tmp_path, rid)
    assert r.exit_code == 0, r.output
    assert any("has changed since the run" in n for n in _notes(out.read_text()))
    assert "<svg" not in out.read_text()


def test_a_failed_run_says_it_failed(tmp_path, store):
    st, prog = store
    rid = _record(st, prog, status="failed", error="cas.collab:7:7: in choose: the model ran out of memory")
    r, out = _report(tmp_path, rid)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "This run FAILED: cas.collab:7:7: in choose: the model ran out of memory" in text


@pytest.mark.parametrize("what", ["store", "run", "large"])
def test_a_missing_store_or_run_is_one_line(tmp_path, store, what):
    st, prog = store
    _record(st, prog)
    if what == "store":
        r = CliRunner().invoke(cli.app, ["report", "latest", "--store", str(tmp_path / "nope.db")])
        assert r.output.strip() == f"collab report: no run store at {tmp_path / 'nope.db'} " \
                                   "(see `collab runs --store FILE`)"
    elif what == "large":
        r, _ = _report(tmp_path, "latest", "--large", "big")
        assert r.output.strip() == "collab report: --large big: the program has no role 'big' (roles: large, small)"
    else:
        r, _ = _report(tmp_path, "20990101T000000-abcdef")
        assert r.output.strip().startswith("collab report: no run or sweep '20990101T000000-abcdef' in ")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
    assert not (tmp_path / "out").exists()


def test_a_sweep_report_shows_means_and_intervals_over_seeds(tmp_path, store):
    st, prog = store
    sid = st.add_sweep(prog, "cas", {"threshold": [0.3, 0.7]}, seeds=[0, 1])
    accs = {(0.3, 0): (0.5, 0.75, 0.5), (0.3, 1): (0.5, 0.75, 1.0), (0.7, 0): (0.5, 0.75, 0.75),
            (0.7, 1): (0.5, 0.75, 0.75)}
    for (t, seed), acc in accs.items():
        _record(st, prog, acc=acc, threshold=t, sweep_id=sid, setting={"threshold": t, "seed": seed, "ablation": None})
    failed = _record(st, prog, status="failed", error="boom", threshold=0.7, sweep_id=sid,
                     setting={"threshold": 0.7, "seed": 2, "ablation": None})
    r, out = _report(tmp_path, sid)
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "1 of 5 runs did not finish: they are left out of every mean and interval" in text and failed in text
    # the cells collab sweep prints (runtime.sweepsummary). cascade at threshold 0.3: mean 0.75 of
    # (0.5, 1.0), 95% t interval 0.75 +- 12.706 * 0.3536 / sqrt(2); at 0.7 the seeds agree and
    # there are no row scores (a store made by hand): no spread
    assert "<td>threshold=0.3 (reference)</td><td>cascade</td><td>0.750 [-2.427, 3.927]</td><td>4</td>" \
           "<td>2/2</td><td>t over 2 seeds</td>" in text
    assert "<td>threshold=0.7</td><td>cascade</td><td>0.750 [0.750, 0.750]</td><td>4</td><td>2/3</td>" in text
    files = sorted(p.name for p in (tmp_path / "out" / "rep_files").iterdir())
    assert files == ["pareto.png", "swept_threshold.png"]
