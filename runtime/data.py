"""Rows for a program's ``load(SOURCE, split:, format:, columns:, limit:, seed:, shuffle:, attach:,
templates:, options:, answer_is:)``.

SOURCE is one of

* a local path: ``.jsonl``/``.ndjson`` (one JSON object a line), ``.json`` (a JSON list of
  objects; an object holding an ``"examples"`` list, as BIG-Bench Hard files do, or a
  ``"data"`` list, or one list per split name; or JSON lines in a ``.json`` file, which is
  detected), ``.csv``/``.tsv`` (a header row; every value is a string) or ``.parquet``
  (read with pyarrow, which comes with ``datasets``). A ``.gz`` ending is decompressed first.
  ``format:`` overrides the extension. A relative path is looked up in ``base_dir`` (the
  program's folder), then in the current directory (where a ``--set`` path was typed). ``split:`` fills a ``{split}`` in the path
  (``"data/{split}.jsonl"``); a path to a folder picks ``<split>.<ext>`` inside it; a plain
  file is all of its rows, whatever the split.
* ``"hf:ID"`` or ``"hf:ID:CONFIG"``: a Hugging Face dataset through ``datasets.load_dataset``
  (``split:`` picks the split; it may be left out only when the dataset has one).
* ``"builtin:NAME"``: a data set shipped in ``runtime/datasets`` (``split:`` train or test).

``columns: {new: "old"}`` renames source fields and keeps only the mapped ones, in the order
given (an empty mapping keeps every field as it is). ``"old"`` may reach into nested fields
with dots (``"choices.text"``, ``"answers.0"``) when no field has that literal name. A
missing field raises :class:`DataError` naming the source, the field and the fields there are.
``limit`` keeps the first N rows, after a seeded shuffle when ``shuffle`` is true.

``attach: {column: "path or glob"}`` adds columns kept in separate files aligned 1:1 with
the rows, as stored teacher outputs often are (``llm/train_CoT_*.json``: JSON lists, one
value per row, split over numbered files read in natural order). The values join the rows
in file order, before ``limit`` and ``shuffle``; a count that does not match the rows is a
:class:`DataError` naming the files.

``templates: {column: "text with {source_column} slots"}``, ``options:`` (the same options for
every row) and ``answer_is:`` (an index, letter or boolean answer becomes its option's text)
build and map columns of the rows read, after ``limit`` and ``shuffle`` and around
``columns:``; :mod:`runtime.loadmap` applies them, a failure names the file and the row.

``policy`` (a :class:`collabdsl.access.ReadPolicy`; the runtime always passes the program's)
limits the files read to the folders the program may read: every local file, folder,
attached match and path-like ``hf:`` id is checked on its real path before it is opened,
and a refusal is an ``AccessDenied`` (a ``ValueError``) naming the path and the
``--allow-read`` that allows it. Without a policy (a direct call from Python) nothing is
refused.

Every failure is a :class:`DataError` (a ``ValueError``) whose message says where: the
resolved path, ``path:line`` for a malformed line, or the dataset id. A source without rows
is an error (an empty file, a CSV with only its header, an empty JSON list: a run would
otherwise finish with n = 0), as is a CSV whose quoted field is never closed (``path:line``
of the row it opens in) and a string holding a lone surrogate (a JSON ``"\\ud800"`` escape
without its pair: not text, no store or model can take it), named by file, line or item. ``datasets`` and
``pyarrow`` are imported only by the functions that read parquet or ``hf:`` sources.
"""
from __future__ import annotations

import csv
import functools
import gzip
import io
import json
import os
import random
import re
from collections.abc import Iterator, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

from collabdsl.access import fill_split, glob_files, hf_local, is_glob, locate

BUILTIN_DIR = Path(__file__).resolve().parent / "datasets"
FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")
_FORMAT_ALIASES = {"ndjson": "jsonl", "jsonlines": "jsonl", "pq": "parquet"}
_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv",
               ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_ROW_LISTS = ("examples", "data", "rows")  # keys of a JSON object that may hold the rows
_BUILTIN_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class DataError(ValueError):
    """A data source could not be read as asked; the message says where and why."""


class DataNotFound(DataError, FileNotFoundError):
    """The file, folder or builtin data set does not exist."""


# --------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------

def load_rows(source: str | os.PathLike, *, split: str | None = None, format: str | None = None,
              columns: Mapping[str, str] | None = None, limit: int | None = None,
              seed: int = 0, shuffle: bool = False,
              base_dir: str | os.PathLike | None = None,
              attach: Mapping[str, str] | None = None, policy=None,
              templates: Mapping[str, str | None] | None = None, options=None,
              answer_is: str | None = None) -> list[dict]:
    """Rows of ``source`` as a list of dicts (see the module docstring for the sources, and
    ``runtime.loadmap`` for ``templates``, ``options`` and ``answer_is``)."""
    from runtime import loadmap

    limit = _check_limit(limit)
    seed = _check_seed(seed)
    columns = _check_columns(columns)
    templates, fixed = loadmap.check_mapping(templates, options, answer_is)
    kind, target = _parse_source(source)
    if attach:
        # aligned columns join the source's rows in file order, before limit and shuffle
        rows = load_rows(source, split=split, format=format, base_dir=base_dir, policy=policy)
        for name, pattern in _check_attach(attach).items():
            values = attached_values(pattern, split, base_dir, policy)
            if len(values) != len(rows):
                raise DataError(f"attach {name!r}: {pattern} holds {len(values)} values "
                                f"({', '.join(str(p) for p in attached_files(pattern, split, base_dir, policy))}) "
                                f"but {source} has {len(rows)} rows; the lists must align 1:1 with the rows")
            for row, value in zip(rows, values):
                row[name] = value
        positions = _pick_indices(len(rows), limit, seed, shuffle)
        rows = [rows[i] for i in positions]
        where = str(source)
        if columns:
            columns = {**columns, **{k: k for k in attach if k not in columns}}
    elif kind == "hf":
        _check_hf_local(target, policy)
        rows, where, positions = _load_hf(target, split, limit, seed, shuffle)
    else:
        if kind == "builtin":
            path, fmt = _builtin_path(target, split), "jsonl"
        else:
            path = resolve_path(target, split, base_dir, policy)
            fmt = _detect_format(path, format)
        where = f"builtin:{target} ({path})" if kind == "builtin" else str(path)
        if fmt == "jsonl" and not shuffle and limit is not None:
            it = _iter_jsonl(path)
            try:
                rows = list(islice(it, limit))  # stop reading early
            finally:
                it.close()
            if not rows and limit:
                raise DataError(_no_rows(path, fmt))
            positions = list(range(len(rows)))
        else:
            all_rows = _read(path, fmt, split)
            if not all_rows:
                raise DataError(_no_rows(path, fmt))
            positions = _pick_indices(len(all_rows), limit, seed, shuffle)
            rows = [all_rows[i] for i in positions]
    if not rows and kind == "hf" and limit != 0:
        raise DataError(f"{where}: no rows")
    positions = [i + 1 for i in positions]  # a row's place in the source, from 1
    built = loadmap.built_columns(templates, fixed)
    loadmap.build(rows, positions, where, templates, fixed)
    if columns:
        rows = _map_columns(rows, loadmap.merge_columns(columns, built), where, positions)
    if answer_is is not None:
        loadmap.map_answers(rows, positions, where, answer_is)
    if fixed is not None and answer_is in (None, "text"):
        loadmap.check_text_answers(rows, positions, where, fixed)
    return rows


def _no_rows(path: Path, fmt: str) -> str:
    """Why a local file gave no rows, for its error."""
    try:
        blank = not _read_text(path).strip()
    except DataError:
        blank = False
    if blank:
        return f"{path}: the file is empty: no rows"
    if fmt in ("csv", "tsv"):
        return f"{path}: only a header line, no rows"
    if fmt == "json":
        return f"{path}: the JSON holds an empty list: no rows"
    return f"{path}: no rows"


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_text(value, where: str, field: str | None = None) -> None:
    """A lone surrogate (JSON's ``"\\ud800"`` without its pair) anywhere in ``value`` is a
    DataError naming ``where`` (file and line or item) and the field."""
    if isinstance(value, str):
        m = _SURROGATE.search(value)
        if m:
            raise DataError(f"{where}: {'field ' + repr(field) + ' ' if field else ''}holds a lone surrogate "
                            f"{m.group()!r} (a \\u{ord(m.group()):04x} escape without its pair): not text")
    elif isinstance(value, Mapping):
        for k, v in value.items():
            _check_text(v, where, field if field is not None else str(k))
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_text(v, where, field)


def attached_files(pattern: str, split: str | None = None,
                   base_dir: str | os.PathLike | None = None, policy=None) -> list[Path]:
    """The files of an ``attach:`` value: one path, or a glob (``llm/train_CoT_*.json``)
    whose matches are read in natural order (``_2`` before ``_10``); with a ``policy``,
    every match is checked."""
    if not isinstance(pattern, str) or not pattern:
        raise DataError(f"attach: expected a path or a glob, got {pattern!r}")
    if "{split}" in pattern:
        if not split:
            raise DataError(f"the path {pattern!r} contains {{split}} but no split was given")
        pattern = pattern.replace("{split}", split)
    if not is_glob(pattern):
        return [resolve_path(pattern, None, base_dir, policy)]
    hits, bases = glob_files(pattern, base_dir)  # an absolute pattern ignores the bases
    if hits:
        for h in hits if policy is not None else ():
            policy.check(h, "attached file")
        return hits
    raise DataNotFound(f"attach: no file matches {pattern!r} (looked in {' and '.join(bases)})")


def attached_values(pattern: str, split: str | None = None,
                    base_dir: str | os.PathLike | None = None, policy=None) -> list:
    """The values of an ``attach:`` column: the JSON lists of its files, concatenated."""
    out: list = []
    for path in attached_files(pattern, split, base_dir, policy):
        try:
            value = json.loads(_read_text(path))
        except OSError as exc:
            raise DataError(f"{path}: cannot read: {exc}") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
        if not isinstance(value, list):
            raise DataError(f"{path}: an attached file must hold a JSON list (one value per row), "
                            f"found {type(value).__name__}")
        for i, v in enumerate(value):
            _check_text(v, f"{path}: item {i}")
        out.extend(value)
    return out


def _check_attach(attach) -> dict:
    if not isinstance(attach, Mapping) or not all(isinstance(k, str) and k for k in attach):
        raise DataError(f"attach: expected {{column: \"path or glob\"}}, got {attach!r}")
    return dict(attach)


def count_rows(source: str | os.PathLike, *, split: str | None = None,
               format: str | None = None, columns: Mapping[str, str] | None = None,
               limit: int | None = None, seed: int = 0, shuffle: bool = False,
               base_dir: str | os.PathLike | None = None, policy=None) -> int | None:
    """How many rows ``load_rows`` would return, found cheaply (for ``collab plan``).

    Builtin sets are counted from their index, JSON lines by their non-blank lines and
    parquet from its metadata, without parsing rows (so a malformed line is not noticed
    here). ``hf:`` sources return None: their size is not known without a download.
    Takes the same arguments as ``load_rows``; ``columns``, ``seed`` and ``shuffle`` do not
    change the count.
    """
    limit = _check_limit(limit)
    kind, target = _parse_source(source)
    if kind == "hf":
        return None
    if kind == "builtin":
        _builtin_path(target, split)  # validates the name and the split
        n = _builtin_index()[target]["splits"][split]
    else:
        path = resolve_path(target, split, base_dir, policy)
        fmt = _detect_format(path, format)
        if fmt == "jsonl":
            with _open_binary(path) as f:
                n = sum(1 for line in f if line.strip())
        elif fmt == "parquet" and path.suffix == ".gz":
            n = len(_read_parquet(path))
        elif fmt == "parquet":
            pq = _import_pyarrow_parquet(path)
            try:
                n = pq.ParquetFile(path).metadata.num_rows
            except Exception as e:  # pyarrow raises several types for a bad file
                raise DataError(f"{path}: not a readable parquet file: {e}") from e
        elif fmt in ("csv", "tsv"):
            n = sum(1 for _ in _iter_csv(path, fmt))
        else:
            n = _count_json(path, split)
    return n if limit is None else min(n, limit)


def builtin_names() -> list[str]:
    """Names of the data sets shipped with collab (``builtin:NAME``)."""
    return sorted(_builtin_index())


def builtin_schema(name: str) -> list[str]:
    """Column names of a builtin data set, in file order."""
    index = _builtin_index()
    if name not in index:
        raise DataNotFound(f"unknown builtin data set {name!r}; available: "
                           f"{', '.join(sorted(index))}")
    return list(index[name]["columns"])


def builtin_splits(name: str) -> dict[str, int]:
    """{split: number of rows} of a builtin data set."""
    builtin_schema(name)
    return dict(_builtin_index()[name]["splits"])


# --------------------------------------------------------------------------------------
# arguments
# --------------------------------------------------------------------------------------

def _parse_source(source) -> tuple[str, str]:
    if isinstance(source, os.PathLike):
        return "path", os.fspath(source)
    if not isinstance(source, str) or not source.strip():
        raise DataError(f"a data source must be a non-empty string, not {source!r}")
    if source.startswith("hf:"):
        return "hf", source[3:]
    if source.startswith("builtin:"):
        return "builtin", source[len("builtin:"):]
    return "path", source


def _integral(value, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise DataError(f"{what} must be a whole number, not {value!r}")
    return int(value)


def _check_limit(limit) -> int | None:
    limit = _integral(limit, "limit")
    if limit is not None and limit < 0:
        raise DataError(f"limit must be 0 or more, not {limit}")
    return limit


def _check_seed(seed) -> int:
    return _integral(seed, "seed") or 0


def _check_columns(columns) -> dict[str, str] | None:
    if columns is None:
        return None
    if not isinstance(columns, Mapping):
        raise DataError(f"columns must map new names to source column names, "
                        f"like {{question: \"q\"}}, not {columns!r}")
    for new, old in columns.items():
        if not isinstance(new, str) or not isinstance(old, str):
            raise DataError(f"columns must map names to names (strings), not {new!r}: {old!r}")
    return dict(columns) or None


def _pick(rows: list, limit: int | None, seed: int, shuffle: bool) -> list:
    if shuffle:
        rows = list(rows)
        random.Random(seed).shuffle(rows)
    return rows if limit is None else rows[:limit]


def _pick_indices(n: int, limit: int | None, seed: int, shuffle: bool) -> list[int]:
    # the same order _pick gives a list of n rows, so a source reads alike everywhere
    return _pick(list(range(n)), limit, seed, shuffle)


_MISSING = object()


def _lookup(row: dict, key: str):
    if key in row:
        return row[key]
    if "." not in key:
        return _MISSING
    value: Any = row
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, (list, tuple)) and part.lstrip("-").isdigit() \
                and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def _map_columns(rows: list[dict], columns: dict[str, str], where: str,
                 positions: list[int] | None = None) -> list[dict]:
    out = []
    for i, row in enumerate(rows, 1):
        new_row = {}
        for new, old in columns.items():
            value = _lookup(row, old)
            if value is _MISSING:
                available = ", ".join(map(str, row)) or "(none)"
                raise DataError(f"{where}: column {old!r} (for {new!r}) not found in row "
                                f"{positions[i - 1] if positions else i}; available columns: {available}")
            new_row[new] = value
        out.append(new_row)
    return out


# --------------------------------------------------------------------------------------
# local files
# --------------------------------------------------------------------------------------

def resolve_path(source: str, split: str | None, base_dir, policy=None) -> Path:
    """The file a local ``load`` source names (see the module docstring); with a ``policy``
    the path, and the file picked inside a folder, are checked before anything is read."""
    filled = fill_split(source, split)
    if filled is None:
        raise DataError(f"the path {source!r} contains {{split}} but no split was given")
    # a path written in the program is relative to its folder; one given with --set
    # on the command line is relative to the current directory: the first that exists
    path, note = locate(filled, base_dir)
    if policy is not None:
        policy.check(path, "data file")
    if path.is_dir():
        path = _file_in_folder(path, split)
        if policy is not None:
            policy.check(path, "data file")
        return path
    if not path.exists():
        raise DataNotFound(f"data file not found: {path}{note}")
    return path


def _check_hf_local(target: str, policy) -> None:
    """An ``hf:`` id that names a local path (``datasets`` reads it from the current
    directory) is a file read like any other."""
    ds_id = target.partition(":")[0].strip()
    if policy is not None and hf_local(ds_id):
        policy.check(locate(ds_id, None)[0], "hf: data path")


def _file_in_folder(folder: Path, split: str | None) -> Path:
    if not split:
        raise DataError(f"{folder} is a folder; pass split: to read <split>.jsonl "
                        f"(or .json, .csv, .tsv, .parquet) from it")
    for ext in (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".jsonl.gz", ".json.gz"):
        candidate = folder / f"{split}{ext}"
        if candidate.is_file():
            return candidate
    names = sorted(p.name for p in folder.iterdir())[:20]
    raise DataNotFound(f"no file for split {split!r} in {folder}; expected {split}.jsonl, "
                       f"{split}.json, {split}.csv, {split}.tsv or {split}.parquet; "
                       f"the folder has: {', '.join(names) or '(nothing)'}")


def _detect_format(path: Path, format: str | None) -> str:
    if format:
        fmt = _FORMAT_ALIASES.get(format.lower(), format.lower())
        if fmt not in FORMATS:
            raise DataError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
        return fmt
    suffixes = path.suffixes[-2:] if path.suffix == ".gz" else path.suffixes[-1:]
    ext = suffixes[0].lower() if suffixes else ""
    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    with _open_binary(path) as f:
        head = f.read(256).lstrip()
    if head[:1] in (b"[", b"{"):
        return "json"  # also detects JSON lines
    raise DataError(f"{path}: cannot tell the format from the name; pass format: "
                    f"one of {', '.join(FORMATS)}")


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def _read_text(path: Path) -> str:
    with _open_binary(path) as f:
        data = f.read()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e})") from e


def _read(path: Path, fmt: str, split: str | None) -> list[dict]:
    if fmt == "jsonl":
        return list(_iter_jsonl(path))
    if fmt == "json":
        return _read_json(path, split)
    if fmt in ("csv", "tsv"):
        return list(_iter_csv(path, fmt))
    return _read_parquet(path)


def _jsonl_rows(lines, path: Path) -> Iterator[dict]:
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{lineno}: invalid JSON: {e.msg} (column {e.colno})") from e
        if not isinstance(row, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object, got "
                            f"{type(row).__name__}")
        _check_text(row, f"{path}:{lineno}")
        yield row


def _iter_jsonl(path: Path) -> Iterator[dict]:
    with _open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig")
        try:
            yield from _jsonl_rows(text, path)
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e})") from e


def _read_json(path: Path, split: str | None) -> list[dict]:
    text = _read_text(path)
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # several values one after another: JSON lines
            return list(_jsonl_rows(text.split("\n"), path))
        raise DataError(f"{path}:{e.lineno}: invalid JSON: {e.msg} (column {e.colno})") from e
    return _rows_of(data, path, split)


def _count_json(path: Path, split: str | None) -> int:
    text = _read_text(path)
    lines = [line for line in text.split("\n") if line.strip()]
    if len(lines) > 1 and lines[0].lstrip().startswith("{"):
        try:
            first = json.loads(lines[0])
        except json.JSONDecodeError:
            first = None
        if isinstance(first, dict):  # a whole object on the first line: JSON lines
            return len(lines)
    return len(_read_json(path, split))


def _rows_of(data, path: Path, split: str | None) -> list[dict]:
    if isinstance(data, dict):
        lists = {k: v for k, v in data.items() if isinstance(v, list)}
        if split and split in lists:
            data = lists[split]
        elif any(k in lists for k in _ROW_LISTS):
            data = lists[next(k for k in _ROW_LISTS if k in lists)]
        elif not lists:
            return [data]  # a single record (JSON lines with one line)
        else:
            raise DataError(f"{path}: a JSON object whose rows are not found; expected a list "
                            f"under 'examples' or 'data'"
                            + (f" or {split!r}" if split else " or a split name (pass split:)")
                            + f"; its lists are under: {', '.join(lists)}")
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of objects, got {type(data).__name__}")
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            raise DataError(f"{path}: item {i} is {type(row).__name__}, expected a JSON object")
        _check_text(row, f"{path}: item {i}")
    return data


def _iter_csv(path: Path, fmt: str) -> Iterator[dict]:
    delimiter = "\t" if fmt == "tsv" else ","
    with _open_binary(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text, delimiter=delimiter, strict=True)
        start = 1  # the line the next record starts on (a quoted field may span lines)
        try:
            reader.fieldnames  # noqa: B018 - reads the header
            start = reader.line_num + 1
            for row in reader:
                if None in row:
                    raise DataError(f"{path}:{start}: more fields than the header "
                                    f"has ({len(reader.fieldnames or [])})")
                yield row
                start = reader.line_num + 1
        except csv.Error as e:
            why = ("a quoted field opened in this row is never closed (it runs to the end of the file)"
                   if "unexpected end of data" in str(e) else str(e))
            raise DataError(f"{path}:{start}: malformed {fmt.upper()}: {why}") from e
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text ({e})") from e


def _import_pyarrow_parquet(path: Path):
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise DataError(f"{path}: reading parquet needs pyarrow "
                        f"(pip install 'collab[run]', which brings datasets and pyarrow)") from e
    return pq


def _read_parquet(path: Path) -> list[dict]:
    pq = _import_pyarrow_parquet(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                table = pq.read_table(io.BytesIO(f.read()))
        else:
            table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several types for a bad file
        raise DataError(f"{path}: not a readable parquet file: {e}") from e
    return table.to_pylist()


# --------------------------------------------------------------------------------------
# builtin data sets
# --------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _builtin_index() -> dict:
    path = BUILTIN_DIR / "index.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise DataNotFound(f"the builtin data set index is missing: {path}") from e


def _builtin_path(name: str, split: str | None) -> Path:
    index = _builtin_index()
    if not _BUILTIN_NAME.match(name) or name not in index:
        raise DataNotFound(f"unknown builtin data set {name!r}; available: "
                           f"{', '.join(sorted(index))}")
    splits = list(index[name]["splits"])
    if split not in splits:
        got = "no split was given" if not split else f"there is no split {split!r}"
        raise DataError(f"builtin:{name}: {got}; its splits are {', '.join(splits)}")
    path = BUILTIN_DIR / name / f"{split}.jsonl"
    if not path.is_file():
        raise DataNotFound(f"builtin:{name}: file missing: {path}")
    return path


# --------------------------------------------------------------------------------------
# Hugging Face datasets
# --------------------------------------------------------------------------------------

def _parse_hf(spec: str) -> tuple[str, str | None]:
    ds_id, _, config = spec.partition(":")
    if not ds_id.strip():
        raise DataError("hf: needs a dataset id, like hf:allenai/ai2_arc:ARC-Easy")
    return ds_id.strip(), (config.strip() or None)


def _load_hf(spec: str, split: str | None, limit: int | None, seed: int,
             shuffle: bool) -> tuple[list[dict], str, list[int]]:
    ds_id, config = _parse_hf(spec)
    label = f"hf:{ds_id}" + (f":{config}" if config else "")
    try:
        import datasets
    except ImportError as e:
        raise DataError(f"{label} needs the 'datasets' package (pip install 'collab[run]')") \
            from e
    try:
        loaded = datasets.load_dataset(ds_id, config, split=split)
    except Exception as e:  # network, missing id/config/split, offline mode, auth ...
        detail = f"{type(e).__name__}: {e}"
        root = e
        while root.__cause__ is not None and len(detail) < 600:
            root = root.__cause__
            detail += f" (caused by {type(root).__name__}: {root})"
        if len(detail) > 600:
            detail = detail[:600] + " ..."
        raise DataError(
            f"could not load Hugging Face dataset {ds_id!r}"
            + (f" (config {config!r})" if config else "")
            + (f", split {split!r}" if split else "")
            + f": {detail}. If this machine is offline, the dataset must already be in the "
            f"Hugging Face cache, or save it to a local file and load that path instead."
        ) from e
    if isinstance(loaded, Mapping):  # a DatasetDict: no split was given
        names = list(loaded)
        if len(names) != 1:
            raise DataError(f"{label} has splits {', '.join(names)}; pass split:")
        split = names[0]
        loaded = loaded[split]
    where = f"{label} (split {split!r})"
    indices = _pick_indices(len(loaded), limit, seed, shuffle)
    return loaded.select(indices).to_list(), where, indices


__all__ = ["BUILTIN_DIR", "FORMATS", "DataError", "DataNotFound", "builtin_names",
           "builtin_schema", "builtin_splits", "count_rows", "load_rows"]
