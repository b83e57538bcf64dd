"""Issue 13: a local model as N Ray actors (the model option ``replicas``), on a local Ray
cluster (in a loopback-only network namespace: the ``netns`` marker) with the embedded model. The outputs (greedy, seeded samples, option
scores) equal one process's; a replica killed mid-batch is restarted by Ray and its shard
retried, with no row lost or written twice; the replica count is no part of a node's
fingerprint, so a run with another count reuses what ran."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time

import pytest
from runtime_testing import run_program, write_program

from runtime import replicas as R

pytestmark = [pytest.mark.slow, pytest.mark.ray, pytest.mark.netns]
pytest.importorskip("ray", reason="ray is not installed (the scale extra: pip install -e .[scale])")

ROWS = [{"question": q, "options": ["yes", "no"], "answer": "yes"} for q in (
    "Is the sky blue?", "Do fish live in water?", "Is fire cold?", "Do birds have wings?",
    "Is ice hot?", "Can people breathe under water without help?", "Is the sun a star?")]

PROGRAM = """
program reps "replicas"
model m = embedded("smollm2-135m-instruct") frozen max_tokens 24 REPLICAS
data d = load("rows.jsonl", columns: {question: "question", options: "options", answer: "answer"})
for x in d {
  x.g = m.generate(x.question)
  x.s = m.sample("Answer in a few words: " + x.question, k: 2, temperature: 0.9)
  x.c = m.choose(x.question, options: x.options)
}
"""


def _values(db, run_id) -> dict:
    con = sqlite3.connect(db)
    got: dict = {}
    for n, i, d in con.execute("select node_id, row_index, data from rows where run_id = ?", [run_id]):
        assert (n, i) not in got, f"row {i} of {n} written twice"
        got[(n, i)] = json.loads(d)["v"]
    con.close()
    return got


def _one_and_two(tmp_path, program: str):
    """``program`` run in one process and with 2 replicas, each into its own store: (run of
    one, run of two, values of one, values of two)."""
    out = []
    for name, replicas in (("one", ""), ("two", "replicas 2")):
        path = write_program(tmp_path / name, program.replace("REPLICAS", replicas), ROWS)
        res = run_program(path, tmp_path / name / "runs.db")
        assert res.status == "finished", res.error
        out.append(res)
    a, b = out
    return a, b, _values(tmp_path / "one" / "runs.db", a.run_id), _values(tmp_path / "two" / "runs.db", b.run_id)


def _same(va: dict, vb: dict) -> None:
    """The texts (greedy and seeded samples) and the chosen options equal; option
    probabilities equal to float rounding (a shard is another batch: other padding, other
    thread count)."""
    assert va.keys() == vb.keys()
    for k, x in va.items():
        y = vb[k]
        if isinstance(x, dict) and "probs" in x:
            assert (x["answer"], x["index"]) == (y["answer"], y["index"]), k
            assert x["probs"] == pytest.approx(y["probs"], rel=1e-4, abs=1e-6), k
        else:
            assert x == y, k


def test_shards_cut_a_batch_into_contiguous_parts_in_order():
    assert R.shards(7, 2) == [(0, 4), (4, 7)]
    assert R.shards(2, 4) == [(0, 1), (1, 2)]
    assert R.shards(9, 3) == [(0, 3), (3, 6), (6, 9)]
    assert R.replica_spec({"backend": "hf", "options": {"replicas": 3, "max_tokens": 5}})["options"] == {
        "max_tokens": 5}
    assert R.gpus_per_replica({"backend": "vllm", "kwargs": {"tensor_parallel_size": 2,
                                                              "pipeline_parallel_size": 2}}) == 4
    assert R.gpus_per_replica({"backend": "hf", "options": {"device": "cpu"}}) == 0
    # CPUs shared out (a fraction each when there are more replicas than CPUs: none waits for ever)
    assert R.resources({"CPU": 2}, 1, 2) == (0, 1.0, 1)
    assert R.resources({"CPU": 2}, 1, 4) == (0, 0.5, 1)
    assert R.resources({"CPU": 2}, 1, 3) == (0, 0.6666, 1)  # 3 x 0.6667 would not fit in 2
    assert R.resources({"CPU": 16}, 1, 3) == (0, 5.0, 5)
    assert R.resources({"CPU": 16, "GPU": 8}, 4, 2) == (4, 1.0, None)
    with pytest.raises(R.ReplicaError, match="2 replicas of 4 GPUs each need 8 GPUs; the Ray cluster has 4"):
        R.resources({"CPU": 16, "GPU": 4}, 4, 2)


@pytest.fixture
def spread_log(monkeypatch):
    """Each call of a replicated executor: (requests per replica so far, replica pids)."""
    log: list = []
    real = R.ReplicatedExecutor._spread

    def spread(self, method, requests):
        out = real(self, method, requests)
        log.append((method, list(self.calls), self))
        return out

    monkeypatch.setattr(R.ReplicatedExecutor, "_spread", spread)
    return log



def test_two_replicas_answer_as_one_process_and_the_count_is_no_part_of_the_fingerprint(
        tmp_path, spread_log):
    _a, b, va, vb = _one_and_two(tmp_path, PROGRAM)
    two = tmp_path / "two" / "prog.collab"
    assert len(va) == 3 * len(ROWS)
    _same(va, vb)
    assert any(isinstance(v, list) and len(set(v)) == 2 for (n, _), v in va.items() if n == "n2"), \
        "the samples were all alike: the test would not see a seed that moved"
    # both replicas answered (generate, sample and choose), in processes other than this one
    methods = {m for m, _, _ in spread_log}
    assert methods == {"generate", "choose"}, methods
    calls = spread_log[-1][1]
    assert len(calls) == 2 and all(c > 0 for c in calls) and sum(calls) == 3 * len(ROWS), calls
    assert b.agents["embedded:smollm2-135m-instruct*2"]["replicas"] == 2
    from runtime.report import totals_lines

    assert any(line.startswith("embedded:smollm2-135m-instruct: 2 Ray replicas, 21 calls")
               for line in totals_lines(b)), totals_lines(b)
    # the same program with another replica count, on the first store: nothing runs again
    again = run_program(two, tmp_path / "one" / "runs.db")
    assert again.status == "finished", again.error
    assert sum(s.calls for s in again.stats.values()) == 0, again.stats
    assert all(again.stats[n].reused for n in ("n1", "n2", "n3")), again.stats  # by fingerprint


def test_a_replica_killed_mid_batch_is_retried_without_losing_or_duplicating_rows(tmp_path, monkeypatch):
    """Replica 0's process is killed (SIGKILL) while it works on its shard of the first batch;
    Ray restarts it and retries the shard; every row is answered once, as by one process."""
    killed: dict = {}
    real = R.ReplicatedExecutor._spread

    def spread(self, method, requests):
        if not killed:
            pid = self.pids()[0]
            killed["pid"] = pid
            done = threading.Event()
            killed["done"] = done

            def kill():
                time.sleep(1.0)  # the shard is on its way: the model generates for seconds
                killed["in_flight"] = not done.is_set()
                os.kill(pid, signal.SIGKILL)

            t = threading.Thread(target=kill)
            t.start()
            try:
                return real(self, method, requests)
            finally:
                done.set()
                t.join()
                killed["after"] = self.pids()
        return real(self, method, requests)

    monkeypatch.setattr(R.ReplicatedExecutor, "_spread", spread)  # the one-process run has no replicas
    _a, _b, va, vb = _one_and_two(tmp_path, PROGRAM)
    assert killed.get("in_flight"), "the replica was killed after its batch finished: nothing was tested"
    assert killed["after"][0] != killed["pid"], "replica 0 was not restarted"
    assert len(vb) == 3 * len(ROWS)
    _same(va, vb)


def test_a_replica_that_cannot_load_its_model_fails_the_run_with_one_located_line(tmp_path, capsys):
    prog = write_program(tmp_path, PROGRAM.replace("REPLICAS", 'replicas 2 device "cuda:99"'), ROWS)
    out = run_program(prog, tmp_path / "runs.db")
    assert out.status == "failed"
    assert out.error.startswith(f"{prog}:6:"), out.error
    assert "ReplicaError: replica 0 of 2 could not load the model:" in out.error and "\n" not in out.error
    assert "Traceback" not in capsys.readouterr().err


def test_replicas_that_do_not_start_in_time_fail_the_run_instead_of_waiting_for_ever(tmp_path, monkeypatch):
    monkeypatch.setenv("COLLAB_REPLICA_START_S", "0.01")
    prog = write_program(tmp_path, PROGRAM.replace("REPLICAS", "replicas 2"), ROWS)
    out = run_program(prog, tmp_path / "runs.db")
    assert out.status == "failed"
    assert "ReplicaError: 2 of 2 replicas did not start within 0.01 s" in out.error, out.error
    assert "COLLAB_REPLICA_START_S sets the wait" in out.error and "\n" not in out.error


TRAINED = """
program reps_trained "a trained version served by replicas"
model s = embedded("smollm2-135m-instruct") trainable lora(dropout: 0.0) max_tokens 12 REPLICAS
data d = load("rows.jsonl", columns: {question: "question", options: "options", answer: "answer"})
model s2 = train s sft for x in d { input: x.question, target: "The answer is " + x.answer + ".",
                                    lr: 0.005, batch_size: 7, max_steps: 4, max_length: 48 }
for x in d {
  x.before = s.generate(x.question)
  x.after = s2.generate(x.question)
}
"""


def test_replicas_answer_with_the_version_the_run_trains(tmp_path):
    """The training runs in the driver; the replicas load its adapter from the version folder
    and answer as one process does with it (and unlike the base model)."""
    _a, b, va, vb = _one_and_two(tmp_path, TRAINED)
    _same(va, vb)
    after = [v for (n, _), v in va.items() if n == "n3"]
    before = [v for (n, _), v in va.items() if n == "n2"]
    assert len(after) == len(ROWS) and after != before, (before, after)
    assert b.agents["embedded:smollm2-135m-instruct*2"]["calls"] == 2 * len(ROWS)
