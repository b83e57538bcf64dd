"""Run store: one SQLite file per project (default ``.collab/runs.db``), built on sqlite-utils.

The file is plain SQLite in WAL mode with foreign keys on; JSON columns hold TEXT JSON, times
are ISO-8601 UTC strings, so ``sqlite-utils`` and Datasette read it as is. Every multi-row
write runs in one transaction (``RunStore.transaction()``, nestable as savepoints), so a
crash, even ``kill -9``, never leaves part of a batch. ``redact`` is applied to params,
bindings, rows, errors and KB text before they are written: secrets never enter the store.

Tables
------
runs            id (pk, "20250101T120000-1a2b3c"), program_path, program_name, program_hash
                (sha256 of the program source and its imports), params (JSON), bindings (JSON:
                model role -> ref), status (running|finished|failed|interrupted), started,
                finished, error, settings (JSON: the run's --seed and --limit), sweep_id
                (-> sweeps; null for a lone run), setting (JSON: the sweep point this run is:
                its grid params, ``"seed": s`` and ``"ablation": name-or-null``)
sweeps          id (pk, "sweep-20250101T120000-1a2b3c"), program_path, program_name, grid (JSON:
                {param: [values]}), seeds (JSON list), ablations (JSON list of ablation names,
                or null without --ablations), created, finished, status
                (running|finished|failed|interrupted), key (sha256 of the program and every
                input of the sweep command: the same command finds and continues it), spec (JSON:
                --set, --model, --profile, --limit of the command)
nodes           pk (run_id -> runs, node_id); kind, status (pending|running|done|failed),
                started, finished, seconds (summed over resumes), calls, prompt_tokens,
                completion_tokens, cost (USD), cache_hits, retries, parse_failures (counters,
                always added to), fingerprint (hash of node definition + inputs + model
                versions; indexed, see ``find_finished_node``; a node started again with
                another fingerprint starts afresh, see ``node_start``), error, peak_mb (the
                highest resident memory of the process while the node's model work ran,
                runtime.memory; null where not measured)
rows            pk (run_id -> runs, node_id, row_index); data (JSON). A node's output rows,
                one transaction per batch; resume from ``completed_row_count``.
model_versions  id (pk), role, parent_id (-> model_versions), base_ref, adapter_path,
                run_id (-> runs), node_id (the training node that made it), created
metrics         id (pk), run_id (-> runs), node_id, table_name, system, metric, value, n,
                iteration
kb              pk (kb, key); run_id (-> runs), text, source_node, created. Retrieval
                ranks one KB's keys or texts by BM25 with that KB's own statistics
                (runtime.kb; stores made before kept a ``kb_fts`` index, no longer read).
cache           key (pk: sha256 of model version id + prompt + sampling options + sample
                index, see ``cache_key``), value (JSON), created. Also the sha256 of data files,
                keyed by their path and stat (see ``runtime.run.file_digest``).
warnings        pk (run_id -> runs, node_id, location, message); level (warning|note),
                kind, label (of the node), location ("program:line:col" of the node or of
                the expression concerned), created. What a run noticed that does not stop it
                (a marker that matches no row, one prediction on almost every row, a training
                task left without examples ...): ``collab run`` and ``collab show`` print them.
trainings       pk (run_id -> runs, node_id); model (the new role), objective, examples,
                tasks (JSON: per training task, or objective field, the examples kept and
                dropped and why: ``[{task, weight, kept, dropped: {reason: n}}]``), info (JSON:
                steps, loss, adapter, or why nothing was trained), created
eval_scores     pk (run_id -> runs, node_id: an eval node); rids (JSON: the row ids in the eval's
                order), scores (JSON: {system: {metric: [each row's score]}}, a metric's mean
                over the rows is its value; none for a metric of the whole column), created.
                ``collab sweep`` draws its intervals over rows from them.

Opening a store checks it (``PRAGMA quick_check``): a folder, a file that is not SQLite, a
damaged or a read-only file raise ``StoreError`` with one line naming the file.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlite_utils

from collabdsl.masking import mask

if TYPE_CHECKING:
    from typing_extensions import Self

DEFAULT_PATH = Path(".collab") / "runs.db"
RUN_STATUSES = ("running", "finished", "failed", "interrupted")
NODE_STATUSES = ("pending", "running", "done", "failed")
COUNTERS = ("calls", "prompt_tokens", "completion_tokens", "cost", "cache_hits", "retries",
            "parse_failures")
REDACTED = "[REDACTED]"

_SECRET_KEY = re.compile(r"api[_-]?key|secret|passw(or)?d|authorization|private[_-]?key"
                         r"|(^|[_\-.])token$", re.IGNORECASE)
_SECRET_ENV = re.compile(r"_(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)


class StoreError(Exception):
    """The run store cannot be used (missing, not SQLite, damaged, read-only, a folder):
    one line naming the file."""


def _describe(path: Path, exc: sqlite3.Error) -> str:
    """One line for an SQLite error on the store at ``path``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_READONLY") or (name.startswith("SQLITE_CANTOPEN") and path.exists()
                                               and not os.access(path.parent, os.W_OK)):
        return (f"{path}: the run store is read-only ({exc}): give a store you can write to, "
                "e.g. --store runs.db")
    if name == "SQLITE_NOTADB":
        return f"{path}: not a run store ({exc})"
    if name.startswith("SQLITE_CORRUPT"):
        return f"{path}: the run store is damaged ({exc}); keep a copy and start a new one with --store"
    if name.startswith("SQLITE_CANTOPEN"):
        return f"{path}: cannot open the run store ({exc})"
    return f"{path}: run store error: {exc}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _dumps(obj: Any) -> str:
    """JSON text of ``obj``, always writable: a string holding a lone surrogate (``"\\ud800"``,
    which UTF-8 cannot encode) is written with JSON's ``\\uXXXX`` escapes and reads back the same."""
    text = json.dumps(obj, ensure_ascii=False, default=str)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(obj, ensure_ascii=True, default=str)
    return text


def _clean(text: str | None) -> str | None:
    """A plain text column's value, always writable: a lone surrogate becomes its escape."""
    if text is None:
        return None
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def stable_hash(obj: Any) -> str:
    """sha256 hex of the canonical JSON of ``obj`` (for fingerprints and cache keys)."""
    return hashlib.sha256(
        json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def program_hash(source: str | Path, imports: Iterable[str | Path] = ()) -> str:
    """sha256 over the program file's bytes and the bytes of every imported file (order of
    ``imports`` does not matter; paths do not count, contents do). No git involved."""
    h = hashlib.sha256(Path(source).read_bytes())
    for digest in sorted(hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in imports):
        h.update(digest.encode())
    return h.hexdigest()


def cache_key(model_version: str, prompt: Any, options: Mapping[str, Any] | None,
              sample_index: int = 0) -> str:
    """Key of one model call: model version id + prompt + sampling options + sample index."""
    return stable_hash([model_version, prompt, dict(options or {}), int(sample_index)])


def _secret_env_values() -> list[str]:
    vals = {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and v and v.strip()}
    return sorted(vals, key=len, reverse=True)  # longest first for substring replacement


def redact(obj: Any, _secrets: list[str] | None = None) -> Any:
    """Copy of ``obj`` with secrets replaced by ``"[REDACTED]"``.

    - values of dict keys that look secret (api_key, apikey, secret, password, authorization,
      private_key, token / *_token; case-insensitive, camelCase too). ``max_tokens`` or
      ``prompt_tokens`` are not secret.
    - any string equal to the value of an environment variable whose name ends with
      _KEY/_TOKEN/_SECRET/_PASSWORD; such a value (8+ chars) inside a longer string, e.g. an
      error message, is replaced in place.
    - URL credentials (``http://user:pass@host``) and secret query values (``?api_key=...``)
      in every string: :func:`collabdsl.masking.mask`, the rule the command line shares.
    """
    env = _secret_env_values() if _secrets is None else _secrets
    if isinstance(obj, Mapping):
        out = {}
        for k, v in obj.items():
            norm = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(k))
            secret = _SECRET_KEY.search(norm) and v is not None and not isinstance(v, bool)
            out[k] = REDACTED if secret else redact(v, env)
        return out
    if isinstance(obj, (list, tuple)):
        items = [redact(v, env) for v in obj]
        return items if isinstance(obj, list) else tuple(items)
    if isinstance(obj, str):
        for val in env:
            if obj == val:
                return REDACTED
            if len(val) >= 8 and val in obj:
                obj = obj.replace(val, REDACTED)
        return mask(obj)
    return obj


def _guard(write: bool):
    """Method decorator: hold the store's lock (reads) or run in one transaction (writes)."""
    def deco(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with self.transaction() if write else self._lock:
                return method(self, *args, **kwargs)
        return wrapper
    return deco


_locked, _in_transaction = _guard(False), _guard(True)


def new_run_id() -> str:
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


# What every table and column of the store means: the one place `collab datasette-metadata`
# (Datasette's table and column descriptions, docs/datasette/metadata.json) is made from; a
# test checks that every column of the schema has a description here. JSON columns hold
# JSON text: read them with SQLite's json functions (``json_extract(params, '$.n')``).
_J = " (JSON text)"
DESCRIPTIONS: dict[str, dict] = {
    "runs": {"description": "One row per `collab run`.", "columns": {
        "id": "The run id (UTC start time and 6 hex): `collab show ID`.",
        "program_path": "The program file as given to `collab run`.",
        "program_name": "The name in the program's `program` line.",
        "program_hash": "sha256 of the program source and of every file it imports.",
        "params": "Param values the run used, by name" + _J + "; secret-looking values [REDACTED].",
        "bindings": "Model role -> backend:ref#model" + _J + "; URL credentials and secret query values masked.",
        "status": "running, finished, failed or interrupted.",
        "started": "Start time, ISO-8601 UTC.", "finished": "End time, ISO-8601 UTC (null while running).",
        "error": "Why the run failed: one located line (secrets redacted).",
        "settings": "The run's --seed, --limit and the precision of each transformers role" + _J + ".",
        "sweep_id": "The sweep this run belongs to (-> sweeps.id); null for a lone run.",
        "setting": "The sweep point this run is: its grid params, seed and ablation" + _J + "."}},
    "sweeps": {"description": "One row per `collab sweep`: a grid of param values x seeds x ablations.", "columns": {
        "id": "The sweep id.", "program_path": "The program file.", "program_name": "The program's name.",
        "grid": "{param: [values]}" + _J + ".", "seeds": "The seeds" + _J + ".",
        "ablations": "The ablation names it runs" + _J + "; null without --ablations.",
        "created": "Start time, ISO-8601 UTC.", "finished": "End time, ISO-8601 UTC.",
        "status": "running, finished, failed or interrupted.",
        "key": "sha256 of the program and every input of the sweep command (the same command continues it).",
        "spec": "--set, --model, --profile, --limit of the command" + _J + "."}},
    "nodes": {"description": "Each operation of each run, with its counters (summed over resumes).", "columns": {
        "run_id": "-> runs.id.", "node_id": "The operation's id in the run's graph (`collab graph`).",
        "kind": "load, generate, choose, compute, filter, train, eval, ...",
        "status": "pending, running, done or failed.",
        "started": "Last start, ISO-8601 UTC.", "finished": "Last end, ISO-8601 UTC.",
        "seconds": "Wall time, summed over resumes.", "calls": "Model calls made (cache hits not counted).",
        "prompt_tokens": "Prompt tokens of those calls.", "completion_tokens": "Completion tokens of those calls.",
        "cost": "Cost in USD (API models).", "cache_hits": "Calls answered from the call cache.",
        "retries": "Calls retried.", "parse_failures": "Replies that did not parse.",
        "fingerprint": "Hash of the node's definition, inputs and model versions (reuse and resume).",
        "error": "Why the node failed.",
        "peak_mb": "Highest resident memory (MB) while its model work ran; null where not measured."}},
    "rows": {"description": "Each node's output rows, one per row index.", "columns": {
        "run_id": "-> runs.id.", "node_id": "-> nodes.node_id.", "row_index": "The row's position, from 0.",
        "data": "The row's fields" + _J + "; secrets redacted."}},
    "model_versions": {"description": "Model versions made by trainings.", "columns": {
        "id": "The version id.", "role": "The role the training made.", "parent_id": "The version it was trained from.",
        "base_ref": "The base model (backend:ref).", "adapter_path": "The LoRA adapter folder (null: full model).",
        "run_id": "-> runs.id.", "node_id": "The training node.", "created": "ISO-8601 UTC."}},
    "metrics": {"description": "Every metric value, one per row (the `results` query pivots them).", "columns": {
        "id": "Insertion order.", "run_id": "-> runs.id.", "node_id": "The eval node.",
        "table_name": "The eval's name (`eval NAME for ...`).", "system": "The system's label.",
        "metric": "The metric's name.", "value": "Its value.", "n": "Rows it was computed on.",
        "iteration": "The loop iteration (null outside loops)."}},
    "kb": {"description": "Knowledge-base entries.", "columns": {
        "kb": "The knowledge base's name.", "key": "The entry's key.", "run_id": "-> runs.id.",
        "text": "The entry's text (secrets redacted).", "source_node": "The node that wrote it.",
        "created": "ISO-8601 UTC."}},
    "cache": {"description": "The model-call cache (and data file digests): reruns make no model calls.", "columns": {
        "key": "sha256 of model version + prompt + sampling options + sample index.",
        "value": "The reply" + _J + ".", "created": "ISO-8601 UTC."}},
    "warnings": {"description": "What a run noticed without stopping.", "columns": {
        "run_id": "-> runs.id.", "node_id": "The node concerned.", "level": "warning or note.",
        "kind": "What kind of warning.", "label": "The node's label.",
        "location": "program:line:col of the node or expression.", "message": "The warning.",
        "created": "ISO-8601 UTC."}},
    "trainings": {"description": "What each training did.", "columns": {
        "run_id": "-> runs.id.", "node_id": "The training node.", "model": "The new role.",
        "objective": "sft, kd, multitask or dpo.", "examples": "Training examples.",
        "tasks": "Per task: the examples kept and dropped and why" + _J + ".",
        "info": "steps, train_loss, log_history (losses per step), adapter, ..." + _J + ".",
        "created": "ISO-8601 UTC."}},
    "eval_scores": {"description": "Each eval's score per row (collab sweep's intervals over rows).", "columns": {
        "run_id": "-> runs.id.", "node_id": "The eval node.", "rids": "The row ids, in order" + _J + ".",
        "scores": "{system: {metric: [score per row]}}" + _J + "; a metric's mean is its value.",
        "created": "ISO-8601 UTC."}},
}
# SQLite's JSON prints a REAL with 15 significant digits (1/7 -> 0.142857142857143, not the
# stored double): the query prints 17 ('%!.17g'), which reads back as the very value stored
RESULTS_SQL = ("select table_name, iteration, system, json_group_object(metric, case when value is null "
               "then null when abs(value) <= 1.7976931348623157e308 then json(printf('%!.17g', value)) "
               "else json_quote(printf('%!.17g', value)) end) as metrics, max(n) as n "
               "from (select * from metrics where run_id = :run_id order by id) "
               "group by table_name, iteration, system order by min(id)")


def datasette_metadata(database: str = "runs") -> dict:
    """Datasette metadata (``datasette runs.db --metadata metadata.json``) for a store whose
    file is ``DATABASE.db``: every table's and column's description, and the canned query
    ``results`` (a run's result tables, one row per table, iteration and system; its metrics
    as a JSON object: ``/runs/results.json?run_id=ID&_shape=array``)."""
    return {"title": "collab run store", "description": "docs/runtime.md, The run store",
            "databases": {database: {
                "tables": {t: {"description": d["description"], "columns": dict(d["columns"])}
                           for t, d in DESCRIPTIONS.items()},
                "queries": {"results": {"sql": RESULTS_SQL, "title": "Results of a run",
                                        "description": "One row per result table, iteration and system; "
                                                       "metrics: {metric: value} as JSON text (exact "
                                                       "doubles); n: the rows evaluated."}}}}}


class RunStore:
    """The project's run store. Thread-safe (one connection guarded by a lock); several
    processes may share the file (WAL: readers never block the writer)."""

    def __init__(self, path: str | Path = DEFAULT_PATH, timeout: float = 30.0, readonly: bool = False):
        """Open (or, unless ``readonly``, create) the store and check it: ``StoreError`` with
        one line if it is a folder, missing (``readonly``), not SQLite, not a run store,
        damaged (``PRAGMA quick_check``) or, to write, read-only."""
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.RLock()
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a run store (give a file, e.g. "
                             f"--store {self.path / 'runs.db'})")
        if readonly and not self.path.is_file():
            raise StoreError(f"{self.path}: no run store here")
        conn = None
        try:
            if readonly:
                conn = self._connect_readonly(timeout)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(self.path), timeout=timeout, check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self._check()
            if not readonly:
                self.db.enable_wal()
                self.db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against process crashes
            self.db.execute("PRAGMA foreign_keys=ON")
            if not readonly:
                self._create_schema()
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(_describe(self.path, exc)) from None
        except OSError as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"{self.path}: cannot open the run store ({exc.strerror or exc})") from None
        except StoreError:
            if conn is not None:
                conn.close()
            raise

    def _connect_readonly(self, timeout: float) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, check_same_thread=False)
        try:
            conn.execute("select count(*) from sqlite_master").fetchone()
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if not getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")):
                raise
        # a WAL store in a folder we cannot write to (no -shm to share): nobody can be
        # writing it through this folder either, so read it as an immutable file
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=timeout, check_same_thread=False)

    def _check(self) -> None:
        tables = {r[0] for r in self.db.execute("select name from sqlite_master where type = 'table'")}
        if tables and "runs" not in tables:
            raise StoreError(f"{self.path}: not a run store (an SQLite file without a 'runs' table)")
        if self.readonly and "runs" not in tables:
            raise StoreError(f"{self.path}: no run store here (an empty file)")
        problems = [r[0] for r in self.db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise StoreError(f"{self.path}: the run store is damaged (quick_check: {problems[0]}); keep a "
                             "copy and start a new one with --store")

    # ---------------------------------------------------------------- plumbing
    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """All writes in the block commit together or not at all. The outermost block is
        BEGIN IMMEDIATE (takes the write lock up front, waiting up to ``timeout`` for other
        writers, so it never fails half-way with SQLITE_BUSY); nested blocks are savepoints."""
        with self._lock:
            if self.db.conn.in_transaction:
                with self.db.atomic():
                    yield self.db
                return
            self.db.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
                self.db.conn.execute("COMMIT")
            except BaseException:
                self.db.rollback()
                raise

    def _create_schema(self) -> None:
        db, T, I, F = self.db, str, int, float
        runs = [("run_id", "runs", "id")]
        with self.transaction():
            db["runs"].create({"id": T, "program_path": T, "program_name": T,
                               "program_hash": T, "params": T, "bindings": T, "status": T,
                               "started": T, "finished": T, "error": T, "settings": T},
                              pk="id", not_null=["status"], if_not_exists=True)
            for col in ("settings", "sweep_id", "setting"):  # a store made before these columns
                if col not in db["runs"].columns_dict:
                    db["runs"].add_column(col, T)
            db["sweeps"].create({"id": T, "program_path": T, "program_name": T, "grid": T, "seeds": T,
                                 "ablations": T, "created": T, "finished": T, "status": T, "key": T,
                                 "spec": T}, pk="id", not_null=["status"], if_not_exists=True)
            db["nodes"].create({"run_id": T, "node_id": T, "kind": T, "status": T,
                                "started": T, "finished": T, "seconds": F,
                                **{c: (F if c == "cost" else I) for c in COUNTERS},
                                "fingerprint": T, "error": T, "peak_mb": F},
                               pk=("run_id", "node_id"), foreign_keys=runs,
                               defaults={c: 0 for c in COUNTERS}, not_null=["status"],
                               if_not_exists=True)
            if "peak_mb" not in db["nodes"].columns_dict:  # a store made before peak_mb
                db["nodes"].add_column("peak_mb", F)
            db["rows"].create({"run_id": T, "node_id": T, "row_index": I, "data": T},
                              pk=("run_id", "node_id", "row_index"), foreign_keys=runs,
                              if_not_exists=True)
            db["model_versions"].create(
                {"id": T, "role": T, "parent_id": T, "base_ref": T, "adapter_path": T,
                 "run_id": T, "node_id": T, "created": T}, pk="id", if_not_exists=True,
                foreign_keys=[("parent_id", "model_versions", "id"), *runs])
            db["metrics"].create({"id": I, "run_id": T, "node_id": T, "table_name": T,
                                  "system": T, "metric": T, "value": F, "n": I,
                                  "iteration": I}, pk="id", foreign_keys=runs,
                                 if_not_exists=True)
            db["kb"].create({"kb": T, "key": T, "run_id": T, "text": T, "source_node": T,
                             "created": T}, pk=("kb", "key"), foreign_keys=runs,
                            if_not_exists=True)
            db["cache"].create({"key": T, "value": T, "created": T}, pk="key",
                               if_not_exists=True)
            db["warnings"].create({"run_id": T, "node_id": T, "level": T, "kind": T, "label": T,
                                   "location": T, "message": T, "created": T},
                                  pk=("run_id", "node_id", "location", "message"),
                                  foreign_keys=runs, if_not_exists=True)
            db["trainings"].create({"run_id": T, "node_id": T, "model": T, "objective": T,
                                    "examples": I, "tasks": T, "info": T, "created": T},
                                   pk=("run_id", "node_id"), foreign_keys=runs, if_not_exists=True)
            db["eval_scores"].create({"run_id": T, "node_id": T, "rids": T, "scores": T, "created": T},
                                     pk=("run_id", "node_id"), foreign_keys=runs, if_not_exists=True)
            for table, cols in [("runs", ["program_path", "started"]),
                                ("nodes", ["fingerprint"]), ("metrics", ["run_id"]),
                                ("runs", ["sweep_id"]), ("sweeps", ["key"])]:
                db[table].create_index(cols, if_not_exists=True)

    # ---------------------------------------------------------------- runs
    @_in_transaction
    def start_run(self, program_path: str | Path, program_name: str | None = None,
                  program_hash: str | None = None, params: Mapping | None = None,
                  bindings: Mapping | None = None, run_id: str | None = None,
                  settings: Mapping | None = None, sweep_id: str | None = None,
                  setting: Mapping | None = None) -> str:
        """Record a new run (status running) and return its id; ``sweep_id`` and ``setting``
        make it the run of one point of a sweep."""
        run_id = run_id or new_run_id()
        sweep = {"sweep_id": sweep_id, "setting": _dumps(redact(dict(setting)))} if sweep_id else {}
        self.db["runs"].insert({**sweep, 
            "id": run_id, "program_path": Path(program_path).as_posix(),
            "program_name": program_name or Path(program_path).stem,
            "program_hash": program_hash, "params": _dumps(redact(dict(params or {}))),
            "bindings": _dumps(redact(dict(bindings or {}))), "status": "running",
            "started": _now(), "finished": None, "error": None,
            "settings": _dumps(dict(settings or {}))})
        return run_id

    @_in_transaction
    def update_run_inputs(self, run_id: str, params: Mapping, bindings: Mapping,
                          settings: Mapping) -> None:
        """Record the params, bindings and settings a resumed run continues with."""
        self.db["runs"].update(run_id, {"params": _dumps(redact(dict(params))),
                                        "bindings": _dumps(redact(dict(bindings))),
                                        "settings": _dumps(dict(settings))})

    @staticmethod
    def recorded(params: Mapping | None = None, bindings: Mapping | None = None) -> tuple[dict, dict]:
        """``params`` and ``bindings`` as ``get_run`` returns them once written (redacted,
        through JSON): compare these with a recorded run."""
        return (_loads(_dumps(redact(dict(params or {})))), _loads(_dumps(redact(dict(bindings or {})))))

    @_in_transaction
    def finish_run(self, run_id: str, status: str = "finished", error: str | None = None):
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {RUN_STATUSES}, not {status!r}")
        values = {"status": status, "error": _clean(redact(error)) if error else None,
                  "finished": None if status == "running" else _now()}
        self.db["runs"].update(run_id, values)

    def _run(self, r: dict) -> dict:
        return {**r, "params": _loads(r["params"]), "bindings": _loads(r["bindings"]),
                "settings": _loads(r.get("settings")) or {}, "setting": _loads(r.get("setting"))}

    @_locked
    def _one(self, table: str, where: str, args: list, **kw) -> dict | None:
        return next(iter(self.db[table].rows_where(where, args, limit=1, **kw)), None)

    def get_run(self, run_id: str) -> dict | None:
        r = self._one("runs", "id = ?", [run_id])
        return r and self._run(r)

    @_locked
    def list_runs(self, limit: int | None = None) -> list[dict]:
        """Runs, newest first."""
        return [self._run(r) for r in self.db["runs"].rows_where(
            order_by="started desc, rowid desc", limit=limit)]

    @_locked
    def latest_run(self, program_path: str | Path,
                   status: str | Iterable[str] | None = None) -> dict | None:
        """Newest run of a program, optionally with one of the given statuses (--resume)."""
        where, args = "program_path = ?", [Path(program_path).as_posix()]
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where += f" and status in ({', '.join('?' * len(statuses))})"
            args += statuses
        r = self._one("runs", where, args, order_by="started desc, rowid desc")
        return r and self._run(r)

    # ---------------------------------------------------------------- sweeps
    def _has(self, table: str) -> bool:
        return self.db[table].exists()  # a store opened read-only may predate the table

    @_in_transaction
    def add_sweep(self, program_path: str | Path, program_name: str | None, grid: Mapping,
                  seeds: Iterable[int], ablations: Iterable[str] | None = None, key: str | None = None,
                  spec: Mapping | None = None, sweep_id: str | None = None) -> str:
        """Record a new sweep (status running): ``grid`` {param: [values]}, ``seeds``, the
        ``ablations`` it runs (None: none asked for); returns its id."""
        sid = sweep_id or f"sweep-{new_run_id()}"
        self.db["sweeps"].insert({
            "id": sid, "program_path": Path(program_path).as_posix(),
            "program_name": program_name or Path(program_path).stem,
            "grid": _dumps(redact({str(k): list(v) for k, v in dict(grid).items()})),
            "seeds": _dumps([int(s) for s in seeds]),
            "ablations": None if ablations is None else _dumps(list(ablations)),
            "created": _now(), "finished": None, "status": "running", "key": key,
            "spec": _dumps(redact(dict(spec or {})))})
        return sid

    @_in_transaction
    def finish_sweep(self, sweep_id: str, status: str = "finished") -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"sweep status must be one of {RUN_STATUSES}, not {status!r}")
        self.db["sweeps"].update(sweep_id, {"status": status,
                                            "finished": None if status == "running" else _now()})

    def _sweep(self, r: dict) -> dict:
        return {**r, "grid": _loads(r["grid"]) or {}, "seeds": _loads(r["seeds"]) or [],
                "ablations": _loads(r["ablations"]), "spec": _loads(r.get("spec")) or {}}

    def get_sweep(self, sweep_id: str) -> dict | None:
        """One sweep (grid, seeds, ablations, spec parsed), or None."""
        r = self._one("sweeps", "id = ?", [sweep_id]) if self._has("sweeps") else None
        return r and self._sweep(r)

    def find_sweep(self, key: str) -> dict | None:
        """The newest sweep recorded with this key (the same program and command)."""
        r = self._one("sweeps", "key = ?", [key], order_by="created desc, rowid desc") \
            if self._has("sweeps") else None
        return r and self._sweep(r)

    @_locked
    def list_sweeps(self, limit: int | None = None) -> list[dict]:
        """Sweeps, newest first."""
        if not self._has("sweeps"):
            return []
        return [self._sweep(r) for r in self.db["sweeps"].rows_where(
            order_by="created desc, rowid desc", limit=limit)]

    @_locked
    def sweep_runs(self, sweep_id: str) -> list[dict]:
        """The runs of a sweep in the order they started, each with ``setting`` parsed
        ({grid params..., "seed": s, "ablation": name-or-null})."""
        if "sweep_id" not in self.db["runs"].columns_dict:
            return []
        return [self._run(r) for r in self.db["runs"].rows_where(
            "sweep_id = ?", [sweep_id], order_by="started, rowid")]

    # ---------------------------------------------------------------- nodes
    def plan_nodes(self, run_id: str, nodes: Iterable[Mapping]) -> None:
        """Register nodes as pending ({node_id, kind, fingerprint}); existing rows are kept."""
        with self.transaction():
            self.db["nodes"].insert_all(
                ({"run_id": run_id, "node_id": n["node_id"], "kind": n.get("kind"),
                  "fingerprint": n.get("fingerprint"), "status": "pending"} for n in nodes),
                ignore=True)

    @_in_transaction
    def node_start(self, run_id: str, node_id: str, kind: str | None = None,
                   fingerprint: str | None = None) -> bool:
        """Mark a node running. On resume its counters and rows are kept if it was recorded
        with this ``fingerprint``; with another one (its inputs changed: params, a model
        binding, the seed, a data file) it starts afresh: its rows, counters, metrics,
        knowledge-base entries, warnings and training record of this run are deleted in the
        same transaction, so nothing of the old inputs is ever read again. Returns True when
        it started afresh."""
        old = self.get_node(run_id, node_id)
        fresh = old is not None and fingerprint is not None and old.get("fingerprint") != fingerprint
        if fresh:
            args = [run_id, node_id]
            for table, col in (("rows", "node_id"), ("metrics", "node_id"), ("kb", "source_node"),
                               ("warnings", "node_id"), ("trainings", "node_id"), ("eval_scores", "node_id"),
                               ("nodes", "node_id")):
                self.db.execute(f"delete from {table} where run_id = ? and {col} = ?", args)
        rec = {"run_id": run_id, "node_id": node_id, "status": "running", "started": _now(),
               "finished": None, "error": None}
        rec.update({k: v for k, v in (("kind", kind), ("fingerprint", fingerprint)) if v})
        self.db["nodes"].upsert(rec, pk=("run_id", "node_id"))
        return fresh

    def _add_stats(self, run_id: str, node_id: str, stats: Mapping[str, float] | None):
        stats = {k: v for k, v in (stats or {}).items() if v}
        if bad := set(stats) - set(COUNTERS):
            raise ValueError(f"unknown node counters {sorted(bad)}; known: {COUNTERS}")
        if stats:
            sets = ", ".join(f"{c} = coalesce({c}, 0) + ?" for c in stats)
            self.db.execute(f"update nodes set {sets} where run_id = ? and node_id = ?",
                            [*stats.values(), run_id, node_id])

    def add_node_stats(self, run_id: str, node_id: str, **deltas: float) -> None:
        """Add to a node's counters (calls=3, cost=0.01, ...)."""
        with self.transaction():
            self._add_stats(run_id, node_id, deltas)

    def node_done(self, run_id: str, node_id: str, status: str = "done",
                  stats: Mapping[str, float] | None = None, error: str | None = None,
                  peak_mb: float | None = None) -> None:
        """Finish a node (done or failed): adds ``stats`` to its counters and the time since
        ``node_start`` to ``seconds``; ``peak_mb`` raises its memory peak (kept over resumes)."""
        if status not in NODE_STATUSES:
            raise ValueError(f"node status must be one of {NODE_STATUSES}, not {status!r}")
        with self.transaction():
            self._add_stats(run_id, node_id, stats)
            node = self.get_node(run_id, node_id) or {}
            started = node.get("started")
            elapsed = (datetime.now(timezone.utc) - datetime.fromisoformat(started)
                       ).total_seconds() if started else 0.0
            self.db["nodes"].upsert({
                "run_id": run_id, "node_id": node_id, "status": status, "finished": _now(),
                "seconds": (node.get("seconds") or 0.0) + elapsed,
                "peak_mb": max((p for p in (node.get("peak_mb"), peak_mb) if p is not None), default=None),
                "error": _clean(redact(error)) if error else None}, pk=("run_id", "node_id"))

    def get_node(self, run_id: str, node_id: str) -> dict | None:
        return self._one("nodes", "run_id = ? and node_id = ?", [run_id, node_id])

    @_locked
    def list_nodes(self, run_id: str) -> list[dict]:
        return list(self.db["nodes"].rows_where("run_id = ?", [run_id], order_by="rowid"))

    def find_finished_node(self, fingerprint: str) -> tuple[str, str] | None:
        """(run_id, node_id) of the newest done node with this fingerprint, to reuse its rows."""
        r = self._one("nodes", "fingerprint = ? and status = 'done'", [fingerprint],
                      order_by="finished desc, rowid desc", select="run_id, node_id")
        return r and (r["run_id"], r["node_id"])

    # ---------------------------------------------------------------- rows
    def write_rows(self, run_id: str, node_id: str, start_index: int, rows: Iterable[Any],
                   stats: Mapping[str, float] | None = None) -> int:
        """Write one batch atomically as rows start_index, start_index+1, ...; rewriting the
        same indices replaces them (never duplicates). ``stats`` (counter deltas) commit in
        the same transaction. Returns the number of rows written."""
        count = 0

        def records():
            nonlocal count
            env = _secret_env_values()
            for i, row in enumerate(rows, start_index):
                count += 1
                yield {"run_id": run_id, "node_id": node_id, "row_index": i,
                       "data": _dumps(redact(row, env))}

        with self.transaction():
            self.db["rows"].insert_all(records(), replace=True)
            self._add_stats(run_id, node_id, stats)
        return count

    @_locked
    def read_rows(self, run_id: str, node_id: str) -> list[Any]:
        return [_loads(r["data"]) for r in self.db["rows"].rows_where(
            "run_id = ? and node_id = ?", [run_id, node_id], order_by="row_index",
            select="data")]

    @_locked
    def completed_row_count(self, run_id: str, node_id: str) -> int:
        """Index after the last committed row (0 if none): where a resumed node continues."""
        return self.db.execute(
            "select coalesce(max(row_index) + 1, 0) from rows where run_id = ? and node_id = ?",
            [run_id, node_id]).fetchone()[0]

    # ---------------------------------------------------------------- models, metrics
    @_in_transaction
    def add_model_version(self, role: str, base_ref: str, adapter_path: str | None = None,
                          parent_id: str | None = None, run_id: str | None = None,
                          node_id: str | None = None, id: str | None = None) -> str:
        vid = id or f"{role}-{secrets.token_hex(6)}"
        self.db["model_versions"].insert({
            "id": vid, "role": role, "parent_id": parent_id, "base_ref": _clean(redact(base_ref)),
            "adapter_path": str(adapter_path) if adapter_path else None, "run_id": run_id,
            "node_id": node_id, "created": _now()})
        return vid

    def get_model_version(self, version_id: str) -> dict | None:
        return self._one("model_versions", "id = ?", [version_id])

    def add_metrics(self, run_id: str, node_id: str | None, metrics: Iterable[Mapping],
                    table_name: str | None = None, iteration: int | None = None) -> None:
        """Add metric rows {system, metric, value, n?, iteration?, table_name?} atomically;
        ``table_name``/``iteration`` are defaults for rows that lack them."""
        with self.transaction():
            self.db["metrics"].insert_all({
                "run_id": run_id, "node_id": node_id,
                "table_name": m.get("table_name", table_name), "system": m["system"],
                "metric": m["metric"], "value": m["value"], "n": m.get("n"),
                "iteration": m.get("iteration", iteration)} for m in metrics)

    @_locked
    def results_table(self, run_id: str, table_name: str | None = None) -> list[dict]:
        """Metrics pivoted: one dict per (table_name, iteration, system) with a key per
        metric, in order of first appearance (a later value of the same cell wins)."""
        where, args = "run_id = ?", [run_id]
        if table_name is not None:
            where, args = where + " and table_name = ?", args + [table_name]
        out: dict[tuple, dict] = {}
        for m in self.db["metrics"].rows_where(where, args, order_by="id"):
            key = (m["table_name"], m["iteration"], m["system"])
            row = out.setdefault(key, {"table_name": key[0], "iteration": key[1],
                                       "system": key[2]})
            row[m["metric"]] = m["value"]
        return list(out.values())

    # ---------------------------------------------------------------- warnings, trainings
    def add_warning(self, run_id: str, node_id: str, message: str, location: str | None = None,
                    kind: str | None = None, label: str | None = None, level: str = "warning") -> None:
        """Record what a run noticed (``level`` warning or note); the same message of the same
        node at the same place is kept once (a resumed run does not repeat it)."""
        if level not in ("warning", "note"):
            raise ValueError(f"warning level must be warning or note, not {level!r}")
        with self.transaction():
            self.db["warnings"].insert({
                "run_id": run_id, "node_id": node_id, "level": level, "kind": kind, "label": label,
                "location": _clean(location or ""), "message": _clean(redact(message)), "created": _now()},
                ignore=True)

    @_locked
    def list_warnings(self, run_id: str) -> list[dict]:
        """A run's warnings and notes, in the order they were made."""
        return list(self.db["warnings"].rows_where("run_id = ?", [run_id], order_by="rowid"))

    def add_training(self, run_id: str, node_id: str, record: Mapping) -> None:
        """Record (or replace) what a training node did: ``record`` holds model, objective,
        examples, tasks and any further details (info)."""
        rec = dict(record)
        row = {"run_id": run_id, "node_id": node_id, "model": rec.pop("model", None),
               "objective": rec.pop("objective", None), "examples": rec.pop("examples", None),
               "tasks": _dumps(rec.pop("tasks", None)), "info": _dumps(redact(rec)), "created": _now()}
        with self.transaction():
            self.db["trainings"].upsert(row, pk=("run_id", "node_id"))

    @_locked
    def list_trainings(self, run_id: str) -> list[dict]:
        return [{**r, "tasks": _loads(r["tasks"]), "info": _loads(r["info"])}
                for r in self.db["trainings"].rows_where("run_id = ?", [run_id], order_by="rowid")]

    def add_eval_scores(self, run_id: str, node_id: str, rids: list, scores: Mapping) -> None:
        """Record (or replace) an eval node's score per row: ``scores`` {system: {metric:
        [score per row]}} in the order of ``rids``."""
        with self.transaction():
            self.db["eval_scores"].upsert({"run_id": run_id, "node_id": node_id, "rids": _dumps(list(rids)),
                                           "scores": _dumps(dict(scores)), "created": _now()},
                                          pk=("run_id", "node_id"))

    @_locked
    def eval_scores(self, run_id: str, node_id: str) -> dict | None:
        """{rids, scores} of an eval node (None: not recorded, e.g. a store made before)."""
        if not self._has("eval_scores"):
            return None
        r = self._one("eval_scores", "run_id = ? and node_id = ?", [run_id, node_id])
        return r and {"rids": _loads(r["rids"]), "scores": _loads(r["scores"])}

    # ---------------------------------------------------------------- knowledge bases
    def kb_write(self, kb: str, entries: str | Mapping | Iterable[str | Mapping],
                 run_id: str | None = None,
                 source_node: str | None = None) -> list[str]:
        """Add entries (texts, or {text, key?} dicts) to KB ``kb``; the key defaults to a hash
        of the text, and writing an existing (kb, key) replaces its text. Returns the keys."""
        entries = [entries] if isinstance(entries, (str, Mapping)) else list(entries)
        env, recs = _secret_env_values(), {}
        for e in entries:
            e = {"text": e} if isinstance(e, str) else dict(e)
            text = _clean(redact(str(e["text"]), env))
            key = _clean(str(e.get("key") or stable_hash(text)[:24]))
            recs[key] = {"kb": kb, "key": key, "run_id": run_id, "text": text,
                         "source_node": e.get("source_node", source_node), "created": _now()}
        with self.transaction():
            self.db["kb"].upsert_all(recs.values(), pk=("kb", "key"))
        return list(recs)

    @_locked
    def kb_size(self, kb: str) -> int:
        """How many entries KB ``kb`` holds."""
        return self.db.execute("select count(*) from kb where kb = ?", [kb]).fetchone()[0]

    @_locked
    def kb_entries(self, kb: str) -> list[dict]:
        """The entries of KB ``kb``, {key, text}, in the order they were first written."""
        return [dict(r) for r in self.db["kb"].rows_where("kb = ?", [kb], select="key, text",
                                                          order_by="rowid")]

    def kb_index(self, kb: str, by: str = "text"):
        """A BM25 index (runtime.kb.KBIndex) over field ``by`` (key or text) of KB ``kb``."""
        from runtime.kb import KBIndex

        return KBIndex(self.kb_entries(kb), by)

    def kb_search(self, kb: str, query: str, top_m: int = 5, by: str = "text") -> list[tuple[str, float]]:
        """BM25 search of KB ``kb`` over field ``by`` (key or text), with the statistics of
        that KB alone: [(text, score)], best first, score = -bm25() (higher is better). Any
        text is a valid query; one without word characters returns [] (runtime.kb)."""
        index = self.kb_index(kb, by)
        try:
            return index.search(query, top_m)
        finally:
            index.close()

    # ---------------------------------------------------------------- model-call cache
    @_locked
    def cache_get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """{key: value} for the keys present (missing keys are absent)."""
        keys, out = list(dict.fromkeys(keys)), {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            for r in self.db["cache"].rows_where(
                    f"key in ({', '.join('?' * len(chunk))})", chunk, select="key, value"):
                out[r["key"]] = _loads(r["value"])
        return out

    def cache_put_many(self, items: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Store {key: value} (or (key, value) pairs) atomically; existing keys are replaced."""
        pairs = items.items() if isinstance(items, Mapping) else items
        with self.transaction():
            self.db["cache"].insert_all(({"key": k, "value": _dumps(v), "created": _now()}
                                         for k, v in pairs), replace=True)
