"""A recorded run as tables (`collab show --table`, runtime.tables), exported to MLflow
(`collab export`, runtime.track) and browsed with Datasette: each read back with the other
tool's own reader and compared with the run store."""
from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from runtime_testing import fake_trainer, run_program, write_program
from typer.testing import CliRunner

from collabdsl import cli
from runtime.store import RunStore
from runtime.tables import STORE_TABLES, read_table

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "sk-collab-export-test-9f8e7d6c5b4a"  # the value of the --key variable
URL_PASSWORD = "hunter2-url-password"
QUERY_KEY = "query-secret-5e4d3c"

PROGRAM = """
program tiny "a column teacher, a trained student and an eval"
param n: int = 3
param note: str = "plain"
model teacher = column("answer")
model student = embedded("smollm2-135m-instruct") trainable
model big = server("http://127.0.0.1:9/v1", model: "m")
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = teacher.generate(x.question) }
model s2 = train student sft for x in d { input: x.question, target: x.reply }
eval res for x in d metrics exact_match { gold x.answer  "teacher (column)/a" = x.reply }
eval nodes for x in d metrics exact_match { gold x.answer  "again" = x.reply }
"""
ROWS = [{"question": f"q{i}", "answer": f"a{i}"} for i in range(6)]


def invoke(*args):
    r = CliRunner().invoke(cli.app, [str(a) for a in args])
    return r


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A real run (a column model, a fake trainer whose log has per-step losses) whose
    binding of `big` holds a URL password and a secret query value, and whose --key
    variable's value is in a data row: what the store, and so every export, must not hold."""
    tmp = tmp_path_factory.mktemp("export")
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("MY_SERVER_KEY", SECRET_KEY)
        fake_trainer(mp)
        from runtime import trainer

        real = trainer.train

        def train(objective, base, rows, out_dir, **kw):
            res = real(objective, base, rows, out_dir, **kw)
            res.log_history = [{"loss": 2.5, "step": 1, "epoch": 0.5}, {"loss": 1.25, "step": 2, "epoch": 1.0},
                               {"train_loss": 1.875, "step": 2}]
            return res

        mp.setattr(trainer, "train", train)
        rows = ROWS + [{"question": "q6", "answer": f"the key is {SECRET_KEY}"}]
        path = write_program(tmp / "prog", PROGRAM, rows)
        url = f"server:http://user:{URL_PASSWORD}@127.0.0.1:9/v1?api_key={QUERY_KEY}#m"
        out = run_program(path, tmp / "runs.db", models={"big": url})
        assert out.status == "finished", out.error
    finally:
        mp.undo()
    return {"db": tmp / "runs.db", "run_id": out.run_id, "program": path, "tmp": tmp}


def _no_secret(text: str, where: str) -> None:
    for secret in (SECRET_KEY, URL_PASSWORD, QUERY_KEY):
        assert secret not in text, f"{secret} in {where}"


def test_the_store_holds_no_secret(recorded):
    with RunStore(recorded["db"], readonly=True) as s:
        dump = "\n".join(s.db.conn.iterdump())
    _no_secret(dump, "the run store")
    assert "[REDACTED]" in dump  # the row's key value


# ------------------------------------------------------------------ collab show --table
def test_show_table_csv_and_json_equal_the_store(recorded):
    db, rid = recorded["db"], recorded["run_id"]
    with RunStore(db, readonly=True) as s:
        results = s.results_table(rid, "res")
        nodes = s.list_nodes(rid)
        trainings = s.list_trainings(rid)
    r = invoke("show", rid, "--store", db, "--format", "json", "--table", "res")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout) == [{**results[0], "n": 7}] and results[0]["exact_match"] == 1.0
    r = invoke("show", rid, "--store", db, "--format", "csv", "--table", "res")
    assert r.exit_code == 0, r.output
    (row,) = list(csv.DictReader(io.StringIO(r.stdout)))
    assert row["system"] == "teacher (column)/a" and float(row["exact_match"]) == results[0]["exact_match"]
    assert row["iteration"] == "" and row["table_name"] == "res" and row["n"] == "7"
    assert list(row)[-1] == "n"
    got = list(csv.DictReader(io.StringIO(invoke("show", rid, "--store", db, "-f", "csv", "-t", "nodes").stdout)))
    assert [g["node_id"] for g in got] == [n["node_id"] for n in nodes]
    assert [int(g["calls"]) for g in got] == [n["calls"] for n in nodes]
    got = json.loads(invoke("show", rid, "--store", db, "-f", "json", "-t", "trainings").stdout)
    assert got == trainings and got[0]["info"]["steps"] == 1
    # a node's output rows: the row index, then its fields; the key's value is redacted
    gen = next(n["node_id"] for n in nodes if n["kind"] == "generate")
    got = list(csv.DictReader(io.StringIO(invoke("show", rid, "--store", db, "-f", "csv", "-t", f"rows:{gen}").stdout)))
    assert len(got) == 7 and got[0]["row_index"] == "0" and got[0]["v"] == "a0"
    assert got[6]["v"] == "the key is [REDACTED]"


def test_an_eval_named_like_a_store_table_is_reached_as_results_name(recorded):
    db, rid = recorded["db"], recorded["run_id"]
    r = invoke("show", rid, "--store", db, "-f", "json", "-t", "nodes")
    assert json.loads(r.stdout)[0]["node_id"]  # the store's table wins, with a note
    assert "--table results:nodes" in r.stderr
    got = json.loads(invoke("show", rid, "--store", db, "-f", "json", "-t", "results:nodes").stdout)
    assert [g["system"] for g in got] == ["again"]


def test_unknown_table_is_one_line_listing_the_tables(recorded):
    db, rid = recorded["db"], recorded["run_id"]
    r = invoke("show", rid, "--store", db, "-f", "csv", "-t", "nope")
    assert r.exit_code == 1
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"collab show: no table 'nope' in run {rid}; its tables: run, nodes, metrics, ")
    assert "res, results:nodes, rows:" in line
    r = invoke("show", rid, "--store", db, "-f", "csv")
    assert r.exit_code == 2 and "--table" in r.stderr
    r = invoke("show", rid, "--store", db, "-t", "res")  # text: a table
    assert r.exit_code == 0 and "teacher (column)/a" in r.stdout
    assert json.loads(invoke("show", rid, "--store", db, "-f", "json").stdout)["run"]["id"] == rid  # as before


def test_tables_are_masked(tmp_path):
    """A store written without redaction (an old or foreign one) is masked when shown."""
    db = tmp_path / "runs.db"
    with RunStore(db) as s:
        rid = s.start_run("p.collab", "p", "h", {"n": 1}, {})
        s.db["runs"].update(rid, {"bindings": json.dumps({"big": "server:http://u:pw123@h/v1?token=abc"})})
        s.add_metrics(rid, "n1", [{"system": "http://u:pw123@h", "metric": "acc", "value": 0.5}], table_name="t")
    for t in ("run", "t", "metrics"):
        out = invoke("show", rid, "--store", db, "-f", "csv", "-t", t).stdout
        assert "pw123" not in out and "abc" not in out, t
    with RunStore(db, readonly=True) as s:
        assert read_table(s, rid, "run")[0]["bindings"] == {"big": "server:http://h/v1?token=***"}
    assert set(STORE_TABLES) == {"run", "nodes", "metrics", "trainings", "warnings"}


def test_a_rows_field_named_row_index_is_kept(tmp_path):
    db = tmp_path / "runs.db"
    with RunStore(db) as s:
        rid = s.start_run("p.collab", "p", "h", {}, {})
        s.write_rows(rid, "n1", 0, [{"row_index": 9, "v": "a"}, "plain"])
        assert read_table(s, rid, "rows:n1") == [{"row_index": 0, "data.row_index": 9, "v": "a"},
                                                 {"row_index": 1, "value": "plain"}]


# ------------------------------------------------------------------ collab export --to mlflow
@pytest.mark.slow  # MLflow creates its database: about 10 s
def test_export_to_mlflow_reads_back_equal_to_the_store(recorded, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    from runtime.track import tracking_uri

    db, rid = recorded["db"], recorded["run_id"]
    monkeypatch.chdir(recorded["program"].parent.parent)  # the run's program path is relative to here
    out = tmp_path / "mlruns"
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    r = invoke("export", rid, "--to", "mlflow", "--dir", out, "--store", db)
    assert r.exit_code == 0, r.output
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"  # nothing sent to MLflow's makers
    client = MlflowClient(tracking_uri=tracking_uri(out))
    exp = client.get_experiment_by_name("collab/tiny")
    (mr,) = client.search_runs([exp.experiment_id], filter_string=f"tags.`collab.run_id` = '{rid}'")
    with RunStore(db, readonly=True) as s:
        run, nodes = s.get_run(rid), s.list_nodes(rid)
        results, trainings = s.results_table(rid), s.list_trainings(rid)
    p = mr.data.params
    assert p["n"] == "3" and p["note"] == "plain"
    assert p["setting.seed"] == "0" and p["setting.limit"] == "null"
    assert p["model.teacher"] == "column:answer"
    assert p["model.big"] == run["bindings"]["big"] == "server:http://127.0.0.1:9/v1?api_key=***#m"
    m = mr.data.metrics
    for row in results:
        sysname = row["system"].replace("(", "_").replace(")", "_").replace("/", "_")
        assert m[f"{row['table_name']}/{sysname}/exact_match"] == row["exact_match"]
        assert m[f"{row['table_name']}/{sysname}/top_share"] == row["top_share"]
    for n in nodes:
        assert m[f"node/{n['node_id']}/calls"] == n["calls"]
        assert m[f"node/{n['node_id']}/seconds"] == pytest.approx(n["seconds"])
    (t,) = trainings
    assert m[f"train/{t['node_id']}/train_loss"] == t["info"]["train_loss"]
    assert m[f"train/{t['node_id']}/examples"] == t["examples"] == 7
    history = client.get_metric_history(mr.info.run_id, f"train/{t['node_id']}/loss")
    assert [(h["step"], h["loss"]) for h in t["info"]["log_history"]] == [(1, 2.5), (2, 1.25)]  # the trainer's log
    assert [(h.step, h.value) for h in history] == [(1, 2.5), (2, 1.25)]
    assert mr.data.tags["collab.status"] == "finished" and mr.info.status == "FINISHED"
    assert mr.data.tags["collab.program_file"] == "same as the run's"
    arts = {a.path for a in client.list_artifacts(mr.info.run_id, "collab")}
    assert {"collab/run.json", "collab/nodes.csv", "collab/metrics.csv"} <= arts
    prog = client.download_artifacts(mr.info.run_id, "program/prog.collab", str(tmp_path / "dl"))
    assert Path(prog).read_text() == recorded["program"].read_text()
    # a second export replaces the first
    r = invoke("export", rid, "--to", "mlflow", "--dir", out, "--store", db)
    assert r.exit_code == 0 and "replaces MLflow run" in r.stdout
    assert len(client.search_runs([exp.experiment_id])) == 1
    # no secret anywhere in what was written
    for f in out.rglob("*"):
        if f.is_file():
            _no_secret(f.read_bytes().decode("utf-8", "replace"), str(f))


def test_export_of_a_sweep_nests_its_runs(recorded, tmp_path):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    from runtime.track import tracking_uri

    db = tmp_path / "runs.db"
    with RunStore(db) as s:
        if not hasattr(s, "add_sweep"):
            pytest.skip("no sweeps in this store")
        sid = s.add_sweep("p.collab", "p", {"n": [1, 2]}, [0])
        rids = []
        for n in (1, 2):
            rid = s.start_run("p.collab", "p", "h", {"n": n}, {})
            s.db["runs"].update(rid, {"sweep_id": sid, "setting": json.dumps({"n": n, "seed": 0})})
            s.add_metrics(rid, "e", [{"system": "s", "metric": "acc", "value": n / 4}], table_name="t")
            s.finish_run(rid)
            rids.append(rid)
        s.finish_sweep(sid)
    r = invoke("export", sid, "--to", "mlflow", "--dir", tmp_path / "ml", "--store", db)
    assert r.exit_code == 0, r.output
    client = MlflowClient(tracking_uri=tracking_uri(tmp_path / "ml"))
    exp = client.get_experiment_by_name("collab/p")
    (parent,) = client.search_runs([exp.experiment_id], filter_string=f"tags.`collab.sweep` = '{sid}'")
    kids = client.search_runs([exp.experiment_id], filter_string=f"tags.`collab.sweep_id` = '{sid}'")
    assert sorted(k.data.tags["collab.run_id"] for k in kids) == sorted(rids)
    for k in kids:
        assert k.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert k.data.metrics["t/s/acc"] == json.loads(k.data.tags["collab.setting"])["n"] / 4
    r = invoke("export", "nope", "--to", "mlflow", "--dir", tmp_path / "ml", "--store", db)
    assert r.exit_code == 1 and "no run or sweep 'nope'" in r.stderr


def test_run_track_mlflow_exports_the_run_when_it_ends(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    from runtime.track import tracking_uri

    monkeypatch.chdir(tmp_path)
    prog = write_program(tmp_path, "\n".join(line for line in PROGRAM.splitlines() if "train student" not in line), ROWS)
    r = invoke("run", prog.name, "--store", "runs.db", "--track", "mlflow", "--track-dir", "ml")
    assert r.exit_code == 0, r.output
    with RunStore(tmp_path / "runs.db", readonly=True) as s:
        (run,) = s.list_runs()
        results = s.results_table(run["id"], "res")
    client = MlflowClient(tracking_uri=tracking_uri(tmp_path / "ml"))
    (mr,) = client.search_runs([client.get_experiment_by_name("collab/tiny").experiment_id])
    assert mr.data.tags["collab.run_id"] == run["id"] and mr.info.status == "FINISHED"
    assert mr.data.metrics["res/teacher _column__a/exact_match"] == results[0]["exact_match"] == 1.0
    r = invoke("run", prog.name, "--store", "runs.db", "--track", "wandb")
    assert r.exit_code == 2 and "expected mlflow" in r.stderr


# ------------------------------------------------------------------ Datasette
def test_every_column_of_the_store_has_a_description(tmp_path):
    from runtime.store import DESCRIPTIONS, datasette_metadata

    with RunStore(tmp_path / "runs.db") as s:
        schema = {t: list(s.db[t].columns_dict) for t in s.db.table_names()}
    missing = [f"{t}.{c}" for t, cols in schema.items() for c in cols
               if not (DESCRIPTIONS.get(t) or {}).get("columns", {}).get(c)]
    assert not missing, f"columns without a description in runtime/store.py DESCRIPTIONS: {missing}"
    assert not [t for t in schema if not (DESCRIPTIONS.get(t) or {}).get("description")]
    meta = datasette_metadata("runs")
    assert meta["databases"]["runs"]["tables"]["metrics"]["columns"]["value"]
    on_disk = json.loads((ROOT / "docs" / "datasette" / "metadata.json").read_text())
    assert on_disk == meta, "docs/datasette/metadata.json is out of date: collab datasette-metadata > it"
    r = invoke("datasette-metadata")
    assert r.exit_code == 0 and json.loads(r.stdout) == meta


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.slow
def test_datasette_serves_the_store_and_its_descriptions(recorded, tmp_path):
    pytest.importorskip("datasette")
    db, rid = recorded["db"], recorded["run_id"]
    meta = tmp_path / "metadata.json"
    meta.write_text(invoke("datasette-metadata").stdout)
    port = _free_port()
    exe = Path(sys.executable).parent / "datasette"
    proc = subprocess.Popen([str(exe), "serve", str(db), "--host", "127.0.0.1", "--port", str(port),
                             "--metadata", str(meta)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                _get(f"{base}/-/versions.json")
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise AssertionError(f"datasette did not answer: {proc.stdout.read().decode()[-2000:]}")
                time.sleep(0.3)
        with RunStore(db, readonly=True) as s:
            expected = s.results_table(rid)
            nodes = s.list_nodes(rid)
        # the canned query `results` pivots the metrics as RunStore.results_table does
        got = _get(f"{base}/runs/results.json?run_id={rid}&_shape=array")
        assert [{"table_name": g["table_name"], "iteration": g["iteration"], "system": g["system"],
                 **json.loads(g["metrics"])} for g in got] == expected
        assert [g["n"] for g in got] == [7, 7]
        got = _get(f"{base}/runs/nodes.json?run_id={rid}&_shape=array")
        assert sorted((g["node_id"], g["calls"], g["seconds"]) for g in got) == \
            sorted((n["node_id"], n["calls"], n["seconds"]) for n in nodes)
        served = _get(f"{base}/-/metadata.json")
        assert served["databases"]["runs"]["tables"]["metrics"]["columns"]["value"] == \
            json.loads(meta.read_text())["databases"]["runs"]["tables"]["metrics"]["columns"]["value"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_served_roles_version_keeps_no_url_credentials(tmp_path, monkeypatch):
    """model_versions.base_ref is the trained role's binding: a served role's URL is masked
    there as everywhere else in the store (Datasette shows this table)."""
    monkeypatch.setenv("MY_SERVER_KEY", SECRET_KEY)
    with RunStore(tmp_path / "runs.db") as s:
        vid = s.add_model_version("m2", f"server:http://user:{URL_PASSWORD}@h/v1?api_key={QUERY_KEY}#{SECRET_KEY}")
        assert s.get_model_version(vid)["base_ref"] == "server:http://h/v1?api_key=***#[REDACTED]"
