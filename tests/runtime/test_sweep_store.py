"""The run store's sweeps: table, columns on runs, methods, and the migration of old stores."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runtime.store import RunStore  # noqa: E402


def test_add_get_list_sweep_and_its_runs(tmp_path):
    with RunStore(tmp_path / "runs.db") as s:
        sid = s.add_sweep("examples/cascade.collab", "cascade", {"threshold": [0.5, 0.7]}, [0, 1],
                          ablations=None, key="k1", spec={"sets": {"n_test": "6"}})
        r1 = s.start_run("examples/cascade.collab", params={"threshold": 0.5}, sweep_id=sid,
                         setting={"threshold": 0.5, "seed": 0, "ablation": None})
        s.start_run("examples/cascade.collab", params={})  # a lone run: no sweep
        sw = s.get_sweep(sid)
        assert sw["grid"] == {"threshold": [0.5, 0.7]} and sw["seeds"] == [0, 1]
        assert sw["ablations"] is None and sw["status"] == "running" and sw["spec"]["sets"] == {"n_test": "6"}
        assert s.find_sweep("k1")["id"] == sid and s.find_sweep("other") is None
        assert [x["id"] for x in s.list_sweeps()] == [sid]
        runs = s.sweep_runs(sid)
        assert [r["id"] for r in runs] == [r1]
        assert runs[0]["setting"] == {"threshold": 0.5, "seed": 0, "ablation": None}
        assert s.get_run(r1)["sweep_id"] == sid
        s.finish_sweep(sid)
        assert s.get_sweep(sid)["status"] == "finished" and s.get_sweep(sid)["finished"]


def test_old_store_opens_and_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)  # a store as made before sweeps: runs without sweep columns
    conn.execute("create table runs (id TEXT PRIMARY KEY, program_path TEXT, program_name TEXT, "
                 "program_hash TEXT, params TEXT, bindings TEXT, status TEXT NOT NULL, started TEXT, "
                 "finished TEXT, error TEXT)")
    conn.execute("insert into runs values ('r1', 'p.collab', 'p', 'h', '{}', '{}', 'finished', "
                 "'2025-01-01', '2025-01-01', null)")
    conn.commit()
    conn.close()
    with RunStore(path, readonly=True) as s:  # read-only: nothing migrated, nothing breaks
        assert s.list_sweeps() == [] and s.get_sweep("x") is None and s.sweep_runs("x") == []
        assert s.get_run("r1")["setting"] is None
    with RunStore(path) as s:
        assert {"sweep_id", "setting"} <= set(s.db["runs"].columns_dict)
        assert s.db["sweeps"].exists() and s.list_sweeps() == []
        assert s.get_run("r1")["sweep_id"] is None


def test_eval_scores_are_kept_per_eval_node_and_start_afresh_with_their_node(tmp_path):
    with RunStore(tmp_path / "runs.db") as s:
        rid = s.start_run("p.collab")
        s.node_start(rid, "e", kind="eval", fingerprint="f1")
        s.add_eval_scores(rid, "e", ["d:0", "d:1"], {"sys": {"accuracy": [1.0, 0.0]}})
        s.add_eval_scores(rid, "e", ["d:0", "d:1"], {"sys": {"accuracy": [0.0, 0.0]}})  # replaced
        assert s.eval_scores(rid, "e") == {"rids": ["d:0", "d:1"], "scores": {"sys": {"accuracy": [0.0, 0.0]}}}
        assert s.eval_scores(rid, "other") is None
        s.node_start(rid, "e", kind="eval", fingerprint="f2")  # its inputs changed: nothing old is read
        assert s.eval_scores(rid, "e") is None
