"""Tests for runtime.data (loading rows) and the shipped data sets in runtime/datasets.

Real files only: every format is written to tmp_path and read back; the builtin sets are the
shipped files; the real-data tests read ../shared/data next to the repository (skipped, with
the reason, only when that folder does not exist); the Hugging Face path runs the real
``datasets.load_dataset`` in a subprocess (offline, on a local folder and a missing id).
"""
from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not add the repo root
    sys.path.insert(0, str(ROOT))

from runtime.data import (  # noqa: E402
    BUILTIN_DIR, DataError, DataNotFound, builtin_names, builtin_schema, builtin_splits,
    count_rows, load_rows,
)

SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"shared data folder {SHARED} does not exist on this machine")

ROWS = [
    {"id": "q1", "question": "What is 2 + 3?", "choices": ["4", "5", "6", "7"], "answer": "5"},
    {"id": "q2", "question": "Which is a gas?", "choices": ["ice", "steam", "rock", "wood"],
     "answer": "steam"},
    {"id": "q3", "question": "Capital of France?", "choices": ["Rome", "Paris", "Oslo", "Bern"],
     "answer": "Paris"},
]
MANY = [{"id": f"r{i:03d}", "x": i} for i in range(50)]

SCHEMAS = {
    "arithmetic": ["id", "question", "answer", "rationale"],
    "science-mc": ["id", "question", "options", "answer", "rationale"],
    "commonsense-mc": ["id", "question", "options", "answer", "rationale"],
}


def write_jsonl(path: Path, rows, blank_lines=False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sep = "\n\n" if blank_lines else "\n"
    path.write_text(sep.join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def write_csv(path: Path, rows, delimiter=",") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), delimiter=delimiter)
        w.writeheader()
        w.writerows(rows)
    return path


# --------------------------------------------------------------------------------------
# formats
# --------------------------------------------------------------------------------------

def test_jsonl_roundtrip(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", ROWS, blank_lines=True)
    assert load_rows(str(path)) == ROWS
    assert count_rows(str(path)) == 3


def test_json_list_roundtrip(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps(ROWS, indent=2), encoding="utf-8")
    assert load_rows(str(path)) == ROWS
    assert count_rows(str(path)) == 3


def test_json_examples_object_like_bbh(tmp_path):
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"canary": "x", "examples": ROWS}), encoding="utf-8")
    assert load_rows(str(path)) == ROWS
    assert count_rows(str(path)) == 3


def test_json_object_with_one_list_per_split(tmp_path):
    path = tmp_path / "splits.json"
    path.write_text(json.dumps({"train": ROWS[:2], "test": ROWS[2:]}), encoding="utf-8")
    assert load_rows(str(path), split="train") == ROWS[:2]
    assert load_rows(str(path), split="test") == ROWS[2:]
    with pytest.raises(DataError, match="split"):
        load_rows(str(path))


def test_json_lines_inside_a_json_file_are_detected(tmp_path):
    path = write_jsonl(tmp_path / "lines.json", ROWS)
    assert load_rows(str(path)) == ROWS
    assert count_rows(str(path)) == 3


def test_csv_and_tsv_roundtrip_as_strings(tmp_path):
    rows = [{"id": "1", "question": "Say \"hi\",\nthen stop", "answer": "7"},
            {"id": "2", "question": "é ü ß", "answer": "0"}]
    for name, delimiter in (("d.csv", ","), ("d.tsv", "\t")):
        path = write_csv(tmp_path / name, rows, delimiter)
        assert load_rows(str(path)) == rows
        assert count_rows(str(path)) == 2  # the quoted newline is not a second row


def test_parquet_roundtrip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), path)
    assert load_rows(str(path)) == ROWS
    assert count_rows(str(path)) == 3
    assert load_rows(str(path), columns={"q": "question"}, limit=1) == [{"q": ROWS[0]["question"]}]


def test_gzipped_jsonl(tmp_path):
    path = tmp_path / "d.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in ROWS)
    assert load_rows(str(path)) == ROWS
    assert count_rows(str(path)) == 3


def test_format_argument_and_sniffing(tmp_path):
    path = write_jsonl(tmp_path / "data.txt", ROWS)
    assert load_rows(str(path), format="jsonl") == ROWS
    assert load_rows(str(path)) == ROWS  # starts with '{': read as JSON (lines)
    with pytest.raises(DataError, match="unknown format 'xml'"):
        load_rows(str(path), format="xml")
    other = tmp_path / "notes.txt"
    other.write_text("just text\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot tell the format"):
        load_rows(str(other))


def test_pathlike_source_and_empty_files(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    assert load_rows(path) == ROWS
    empty = tmp_path / "empty.json"
    empty.write_text("", encoding="utf-8")
    assert count_rows(str(empty)) == 0  # the plan says 0; loading it is an error (below)
    with pytest.raises(DataError, match=re.escape(f"{empty}: the file is empty: no rows")):
        load_rows(str(empty))


@pytest.mark.parametrize("name, text, why", [
    ("e.jsonl", "", "the file is empty"),
    ("e.jsonl", "\n\n  \n", "the file is empty"),
    ("e.json", "  \n", "the file is empty"),
    ("e.json", "[]", "the JSON holds an empty list"),
    ("e.json", '{"examples": []}', "the JSON holds an empty list"),
    ("e.csv", "id,question,answer\n", "only a header line"),
    ("e.tsv", "id\tquestion\n", "only a header line"),
    ("e.csv", "", "the file is empty"),
])
def test_a_source_without_rows_is_an_error_naming_the_file(tmp_path, name, text, why):
    """A run on it would finish with n = 0 and empty tables; with or without a limit."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    for limit in (None, 5):
        with pytest.raises(DataError, match=re.escape(f"{path}: {why}")):
            load_rows(str(path), limit=limit)
    assert load_rows(str(write_jsonl(tmp_path / "ok.jsonl", ROWS)), limit=0) == []  # none asked for


def test_csv_with_an_unterminated_quote_names_the_line_it_opens_on(tmp_path):
    """csv's default reads the rest of the file into one field and finishes silently."""
    path = tmp_path / "q.csv"
    path.write_text('id,question\nq1,"multi\nline" ok\nq2,fine\nq3,"never closed\nq4,lost\nq5,lost\n',
                    encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:2: malformed CSV")):
        load_rows(str(path))
    path.write_text('id,question\nq1,"multi\nline"\nq2,fine\nq3,"never closed\nq4,lost\nq5,lost\n',
                    encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:5: malformed CSV: a quoted field opened in this "
                                                  "row is never closed")):
        load_rows(str(path))
    path.write_text('id,question\nq1,"multi\nline"\nq2,"say ""hi"""\n', encoding="utf-8")
    assert load_rows(str(path)) == [{"id": "q1", "question": "multi\nline"}, {"id": "q2", "question": 'say "hi"'}]


def test_a_lone_surrogate_is_an_error_naming_file_line_and_field(tmp_path):
    """json.loads reads "\\ud800" as a str no UTF-8 writer (the run store, a tokenizer) takes."""
    good = json.dumps({"q": "ok \U0001F600"})  # a proper pair: an emoji
    path = tmp_path / "s.jsonl"
    path.write_text(good + "\n" + '{"q": "x", "meta": {"note": "half \\ud800 pair"}}\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:2: field 'meta' holds a lone surrogate")):
        load_rows(str(path))
    path = tmp_path / "s.json"
    path.write_text('[{"q": "ok"}, {"q": "\\udc80 alone"}]', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}: item 1: field 'q' holds a lone surrogate")):
        load_rows(str(path))
    write_jsonl(tmp_path / "rows.jsonl", ROWS[:2])
    (tmp_path / "att.json").write_text('["fine", "bad \\ud83d"]', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{tmp_path / 'att.json'}: item 1: holds a lone surrogate")):
        load_rows("rows.jsonl", base_dir=tmp_path, attach={"t": "att.json"})
    assert load_rows(str(tmp_path / "s.jsonl").replace("s.jsonl", "rows.jsonl")) == ROWS[:2]
    (tmp_path / "e.jsonl").write_text(good + "\n", encoding="utf-8")
    assert load_rows(str(tmp_path / "e.jsonl")) == [{"q": "ok \U0001F600"}]


# --------------------------------------------------------------------------------------
# paths and splits
# --------------------------------------------------------------------------------------

def test_relative_paths_use_base_dir_then_cwd(tmp_path, monkeypatch):
    write_jsonl(tmp_path / "prog" / "data" / "qa.jsonl", ROWS)
    assert load_rows("data/qa.jsonl", base_dir=tmp_path / "prog") == ROWS
    monkeypatch.chdir(tmp_path / "prog")
    assert load_rows("data/qa.jsonl") == ROWS
    assert count_rows("data/qa.jsonl") == 3


def test_a_set_path_relative_to_the_cwd_works_beside_a_program_folder(tmp_path, monkeypatch):
    """`--set train_data=data/qa.jsonl` is typed relative to where the user stands."""
    write_jsonl(tmp_path / "data" / "qa.jsonl", ROWS)
    (tmp_path / "programs").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_rows("data/qa.jsonl", base_dir=tmp_path / "programs") == ROWS
    with pytest.raises(DataNotFound) as err:
        load_rows("data/none.jsonl", base_dir=tmp_path / "programs")
    assert "programs" in str(err.value) and "resolved against" in str(err.value)


# --------------------------------------------------------------------------------------
# attach: aligned columns from separate files
# --------------------------------------------------------------------------------------

def _aligned(tmp_path, n=12, sizes=(5, 5, 2)):
    rows = [{"id": f"r{i}", "question": f"q{i}"} for i in range(n)]
    write_jsonl(tmp_path / "qa.jsonl", rows)
    (tmp_path / "llm").mkdir()
    start = 0
    for k, size in enumerate(sizes):
        # numbered so that a plain string sort would read _10 before _2
        (tmp_path / "llm" / f"train_CoT_{k * 5}.json").write_text(
            json.dumps([f"rationale {i}" for i in range(start, start + size)]))
        start += size
    return rows


def test_attach_joins_numbered_list_files_in_natural_order(tmp_path):
    _aligned(tmp_path)
    rows = load_rows("qa.jsonl", base_dir=tmp_path, attach={"stored": "llm/train_CoT_*.json"})
    assert [r["stored"] for r in rows] == [f"rationale {i}" for i in range(12)]
    assert all(r["question"] == f"q{i}" for i, r in enumerate(rows))


def test_attach_aligns_before_limit_shuffle_and_columns(tmp_path):
    _aligned(tmp_path)
    rows = load_rows("qa.jsonl", base_dir=tmp_path, attach={"stored": "llm/train_CoT_*.json"},
                     limit=4, shuffle=True, seed=3, columns={"q": "question"})
    assert len(rows) == 4 and set(rows[0]) == {"q", "stored"}
    assert all(r["stored"] == "rationale " + r["q"][1:] for r in rows)  # still aligned
    assert [r["q"] for r in rows] == [r["question"] for r in load_rows(
        "qa.jsonl", base_dir=tmp_path, limit=4, shuffle=True, seed=3)]


def test_attach_errors_name_the_files(tmp_path):
    _aligned(tmp_path, sizes=(5, 5))
    with pytest.raises(DataError, match=r"holds 10 values .*train_CoT_5.json.* has 12 rows"):
        load_rows("qa.jsonl", base_dir=tmp_path, attach={"stored": "llm/train_CoT_*.json"})
    with pytest.raises(DataNotFound, match="no file matches 'llm/test_\\*.json'"):
        load_rows("qa.jsonl", base_dir=tmp_path, attach={"stored": "llm/test_*.json"})
    (tmp_path / "llm" / "bad.json").write_text('{"a": 1}')
    with pytest.raises(DataError, match="must hold a JSON list"):
        load_rows("qa.jsonl", base_dir=tmp_path, attach={"stored": "llm/bad.json"})
    (tmp_path / "llm" / "broken.json").write_text('["a", ')
    with pytest.raises(DataError, match=r"broken.json:1:\d+: not JSON"):
        load_rows("qa.jsonl", base_dir=tmp_path, attach={"stored": "llm/broken.json"})


@needs_shared
def test_attach_the_arc_teacher_rationales():
    rows = load_rows(str(SHARED / "arc" / "arc_train.json"),
                     attach={"stored": str(SHARED / "arc" / "llm" / "train_CoT_*.json")})
    assert len(rows) == 1117
    for r in (rows[0], rows[600], rows[-1]):  # the FLAN-T5 part answers the row's own question
        t5 = r["stored"].split("\n\nQ:")[0]
        assert "the answer is" in t5.lower()
        assert r["question"][:30] in r["stored"]


def test_split_fills_a_path_template(tmp_path):
    write_jsonl(tmp_path / "data" / "train.jsonl", ROWS[:2])
    write_jsonl(tmp_path / "data" / "test.jsonl", ROWS[2:])
    assert load_rows("data/{split}.jsonl", split="train", base_dir=tmp_path) == ROWS[:2]
    assert load_rows("data/{split}.jsonl", split="test", base_dir=tmp_path) == ROWS[2:]
    assert count_rows("data/{split}.jsonl", split="test", base_dir=tmp_path) == 1
    with pytest.raises(DataError, match=r"contains \{split\} but no split"):
        load_rows("data/{split}.jsonl", base_dir=tmp_path)


def test_a_folder_and_a_split_pick_the_split_file(tmp_path):
    write_jsonl(tmp_path / "data" / "train.jsonl", ROWS[:2])
    write_csv(tmp_path / "data" / "test.csv", [{"a": "1"}])
    assert load_rows("data", split="train", base_dir=tmp_path) == ROWS[:2]
    assert load_rows("data", split="test", base_dir=tmp_path) == [{"a": "1"}]
    with pytest.raises(DataNotFound, match="no file for split 'dev'.*train.jsonl"):
        load_rows("data", split="dev", base_dir=tmp_path)
    with pytest.raises(DataError, match="is a folder"):
        load_rows("data", base_dir=tmp_path)


def test_a_plain_file_ignores_the_split(tmp_path):
    path = write_jsonl(tmp_path / "all.jsonl", ROWS)
    assert load_rows(str(path), split="test") == ROWS


def test_missing_file_names_the_resolved_path(tmp_path):
    with pytest.raises(DataNotFound) as err:
        load_rows("nope/missing.jsonl", base_dir=tmp_path)
    assert str(tmp_path / "nope" / "missing.jsonl") in str(err.value)
    assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)
    with pytest.raises(DataNotFound, match="missing.csv"):
        count_rows(str(tmp_path / "missing.csv"))


# --------------------------------------------------------------------------------------
# malformed input
# --------------------------------------------------------------------------------------

def test_malformed_jsonl_line_reports_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2,}\n{"a": 3}\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:3: invalid JSON")):
        load_rows(str(path))
    lines = tmp_path / "bad.json"  # JSON lines in a .json file
    lines.write_text('{"a": 1}\n{"a": 2}\n{"a": \n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{lines}:3: invalid JSON")):
        load_rows(str(lines))


def test_non_object_rows_and_broken_json(tmp_path):
    path = tmp_path / "nums.jsonl"
    path.write_text('{"a": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:2: expected a JSON object")):
        load_rows(str(path))
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"a": 1},\n  {"a": 2\n]\n', encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{broken}:4: invalid JSON")):
        load_rows(str(broken))
    strings = tmp_path / "strings.json"
    strings.write_text('["a", "b"]', encoding="utf-8")
    with pytest.raises(DataError, match="item 0 is str"):
        load_rows(str(strings))


def test_csv_row_with_extra_fields(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4,5\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape(f"{path}:3: more fields")):
        load_rows(str(path))


# --------------------------------------------------------------------------------------
# columns, limit, seed
# --------------------------------------------------------------------------------------

def test_columns_rename_and_keep_only_mapped(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    rows = load_rows(str(path), columns={"options": "choices", "question": "question",
                                         "gold": "answer"})
    assert rows[1] == {"options": ["ice", "steam", "rock", "wood"],
                       "question": "Which is a gas?", "gold": "steam"}
    assert all(list(r) == ["options", "question", "gold"] for r in rows)
    assert load_rows(str(path), columns={}) == ROWS  # an empty mapping keeps everything


def test_columns_reach_into_nested_fields(tmp_path):
    rows = [{"q": "x", "choices": {"text": ["a", "b"], "label": ["A", "B"]}}]
    path = write_jsonl(tmp_path / "arc_like.jsonl", rows)
    got = load_rows(str(path), columns={"options": "choices.text", "first": "choices.label.0"})
    assert got == [{"options": ["a", "b"], "first": "A"}]


def test_missing_column_error_names_file_column_and_available(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", ROWS)
    with pytest.raises(DataError) as err:
        load_rows(str(path), columns={"options": "options", "question": "question"})
    msg = str(err.value)
    assert str(path) in msg and "'options'" in msg
    assert "available columns: id, question, choices, answer" in msg
    with pytest.raises(DataError, match="map new names"):
        load_rows(str(path), columns=["question"])


def test_limit_takes_the_first_rows_without_shuffle(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", MANY)
    assert load_rows(str(path), limit=5) == MANY[:5]
    assert load_rows(str(path), limit=0) == []
    assert load_rows(str(path), limit=500) == MANY
    assert load_rows(str(path), limit=5.0) == MANY[:5]  # a whole number from the DSL
    assert count_rows(str(path), limit=7) == 7 and count_rows(str(path), limit=500) == 50
    with pytest.raises(DataError, match="limit must be 0 or more"):
        load_rows(str(path), limit=-1)
    with pytest.raises(DataError, match="whole number"):
        load_rows(str(path), limit=2.5)


def test_seeded_shuffle_is_deterministic(tmp_path):
    path = write_jsonl(tmp_path / "many.jsonl", MANY)
    a = load_rows(str(path), shuffle=True, seed=7, limit=10)
    b = load_rows(str(path), shuffle=True, seed=7, limit=10)
    c = load_rows(str(path), shuffle=True, seed=8, limit=10)
    assert a == b and a != c
    assert a != MANY[:10]
    full = load_rows(str(path), shuffle=True, seed=7)
    assert full[:10] == a  # limit is taken after the shuffle
    assert sorted(full, key=lambda r: r["x"]) == MANY
    # the same rows shuffle the same way whatever the file format
    csv_path = write_csv(tmp_path / "many.csv", [{k: str(v) for k, v in r.items()} for r in MANY])
    assert [r["id"] for r in load_rows(str(csv_path), shuffle=True, seed=7, limit=10)] == \
        [r["id"] for r in a]
    assert load_rows(str(path), seed=7, limit=3) == MANY[:3]  # a seed alone does not shuffle


# --------------------------------------------------------------------------------------
# builtin data sets
# --------------------------------------------------------------------------------------

def _builtin(name: str, split: str) -> list[dict]:
    return load_rows(f"builtin:{name}", split=split)


def test_builtin_names_schema_and_sizes():
    assert builtin_names() == sorted(SCHEMAS)
    for name, schema in SCHEMAS.items():
        assert builtin_schema(name) == schema
        assert builtin_splits(name) == {"train": 300, "test": 100}
        for split, size in (("train", 300), ("test", 100)):
            rows = _builtin(name, split)
            assert len(rows) == size == count_rows(f"builtin:{name}", split=split)
            assert all(list(r) == schema for r in rows)
            assert len({r["id"] for r in rows}) == size
            assert (BUILTIN_DIR / name / f"{split}.jsonl").stat().st_size < 200_000


def test_builtin_errors_and_options():
    with pytest.raises(DataNotFound, match="unknown builtin data set 'nope'; available: "
                                           "arithmetic, commonsense-mc, science-mc"):
        load_rows("builtin:nope", split="train")
    with pytest.raises(DataNotFound):
        load_rows("builtin:../datasets", split="train")
    with pytest.raises(DataError, match="no split was given; its splits are train, test"):
        load_rows("builtin:arithmetic")
    with pytest.raises(DataError, match="no split 'dev'"):
        count_rows("builtin:arithmetic", split="dev")
    with pytest.raises(DataNotFound):
        builtin_schema("nope")
    rows = load_rows("builtin:science-mc", split="test", columns={"q": "question"}, limit=3)
    assert [list(r) for r in rows] == [["q"]] * 3
    shuffled = load_rows("builtin:science-mc", split="test", shuffle=True, seed=1, limit=5)
    assert shuffled == load_rows("builtin:science-mc", split="test", shuffle=True, seed=1)[:5]


@pytest.mark.parametrize("name", ["science-mc", "commonsense-mc"])
def test_builtin_multiple_choice_rows_are_consistent(name):
    for split in ("train", "test"):
        rows = _builtin(name, split)
        letters = ["abcd"[r["options"].index(r["answer"])] for r in rows]
        assert {letters.count(x) for x in "abcd"} == {len(rows) // 4}  # no letter bias
        for r in rows:
            opts = r["options"]
            assert isinstance(opts, list) and len(opts) == 4
            assert all(isinstance(o, str) and o.strip() for o in opts)
            assert len({o.strip().lower() for o in opts}) == 4, r
            assert r["answer"] in opts, r
            letter = "abcd"[opts.index(r["answer"])]
            assert r["rationale"].endswith(f"So the answer is ({letter}) {r['answer']}."), r
            assert r["question"].strip() and r["question"] != r["answer"]


def test_builtin_arithmetic_rationales_are_correct():
    for split in ("train", "test"):
        for r in _builtin("arithmetic", split):
            assert re.fullmatch(r"\d+", r["answer"]), r
            assert r["rationale"].endswith(f"So the answer is {r['answer']}.")
            assert re.findall(r"\d+", r["rationale"])[-1] == r["answer"]
            steps = re.findall(r"(\d[\d +\-*/]*?) = (\d+)", r["rationale"])
            assert steps, r
            for lhs, rhs in steps:
                assert re.fullmatch(r"[\d +\-*/]+", lhs)
                assert eval(lhs) == int(rhs), (lhs, rhs, r)  # digits and + - * / only


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_builtin_questions_are_unique_and_splits_disjoint(name):
    def norm(q):
        return " ".join(q.lower().split())
    train = [norm(r["question"]) for r in _builtin(name, "train")]
    test = [norm(r["question"]) for r in _builtin(name, "test")]
    assert len(set(train)) == len(train) and len(set(test)) == len(test)
    assert not set(train) & set(test)


def _generator():
    spec = importlib.util.spec_from_file_location("collab_dataset_generator",
                                                  BUILTIN_DIR / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_regenerates_the_shipped_files_byte_for_byte(tmp_path):
    gen = _generator()
    written = gen.write_all(tmp_path)
    rel = sorted(str(p.relative_to(tmp_path)) for p in written)
    shipped = sorted(str(p.relative_to(BUILTIN_DIR))
                     for p in BUILTIN_DIR.rglob("*") if p.suffix in (".jsonl", ".json"))
    assert rel == shipped
    for name in rel:
        assert (tmp_path / name).read_bytes() == (BUILTIN_DIR / name).read_bytes(), name
    assert gen.main(["--check"]) == 0
    assert gen.main(["--check", "--out", str(tmp_path / "elsewhere")]) == 1


# --------------------------------------------------------------------------------------
# real data from ../shared/data (not copied into the project)
# --------------------------------------------------------------------------------------

@needs_shared
def test_commonsenseqa_json_lines():
    path = SHARED / "cqa" / "cqa_train.json"
    rows = load_rows(str(path), columns={"question": "question", "options": "choices",
                                         "answer": "answer"})
    assert len(rows) == count_rows(str(path)) > 1000
    assert all(list(r) == ["question", "options", "answer"] for r in rows)
    assert all(r["answer"] in r["options"] for r in rows)
    rel = os.path.relpath(path, ROOT)  # "../shared/data/cqa/cqa_train.json"
    few = load_rows(rel, base_dir=ROOT, limit=5, shuffle=True, seed=3)
    assert len(few) == 5 and set(few[0]) >= {"id", "question", "choices", "answer"}


@needs_shared
def test_arc_json_list():
    path = SHARED / "arc" / "arc_train.json"
    rows = load_rows(str(path), columns={"question": "question", "options": "choices",
                                         "answer": "answer"}, limit=200)
    assert len(rows) == 200
    assert all(isinstance(r["options"], list) and r["answer"] in r["options"] for r in rows)
    assert count_rows(str(path)) == len(load_rows(str(path))) > 1000


@needs_shared
def test_bbh_examples_object():
    path = SHARED / "bbh" / "navigate.json"
    rows = load_rows(str(path), columns={"question": "input", "answer": "target"})
    assert len(rows) == count_rows(str(path)) == 250
    assert {r["answer"] for r in rows} == {"Yes", "No"}
    with pytest.raises(DataError, match="available columns: input, target"):
        load_rows(str(path), columns={"question": "question"})


# --------------------------------------------------------------------------------------
# Hugging Face datasets, for real, in a subprocess (offline, fresh cache)
# --------------------------------------------------------------------------------------

HF_SCRIPT = textwrap.dedent("""
    import json, sys
    from runtime.data import DataError, load_rows, count_rows
    out = {"datasets_imported_by_import": "datasets" in sys.modules}
    folder = sys.argv[1]
    rows = load_rows("hf:" + folder, split="train", shuffle=True, seed=5, limit=4)
    out["hf_rows"] = rows
    out["local_rows"] = load_rows(folder + "/train.jsonl", shuffle=True, seed=5, limit=4)
    out["hf_columns"] = load_rows("hf:" + folder, split="test", columns={"q": "id"})
    out["hf_count"] = count_rows("hf:" + folder, split="train")
    for key, source, split in (("no_split", "hf:" + folder, None),
                               ("missing", "hf:collab-tests/no-such-dataset", "train")):
        try:
            load_rows(source, split=split)
            out[key] = None
        except DataError as e:
            out[key] = str(e)
    print(json.dumps(out))
""")


HF_TEST = "test_hf_source_with_the_real_datasets_library"
HF_TEST_ROWS = [{"id": f"t{i}", "x": 100 + i} for i in range(3)]  # same columns as MANY


@pytest.fixture(scope="module", autouse=True)
def hf_subprocess(request, tmp_path_factory):
    """Starts the Hugging Face subprocess when the module starts, so that importing
    ``datasets`` (seconds) overlaps the other tests; only if the HF test was selected."""
    selected = any(item.name == HF_TEST for item in request.session.items)
    if not selected or importlib.util.find_spec("datasets") is None:
        yield None
        return
    tmp = tmp_path_factory.mktemp("hf")
    folder = tmp / "local_hf"
    write_jsonl(folder / "train.jsonl", MANY)
    write_jsonl(folder / "test.jsonl", HF_TEST_ROWS)
    env = dict(os.environ, HF_HOME=str(tmp / "hf_home"), HF_DATASETS_OFFLINE="1",
               HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", HF_SCRIPT, str(folder)], cwd=tmp, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def test_hf_source_with_the_real_datasets_library(hf_subprocess):
    pytest.importorskip("datasets")
    stdout, stderr = hf_subprocess.communicate(timeout=120)
    assert hf_subprocess.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    assert out["datasets_imported_by_import"] is False  # heavy import stays lazy
    assert out["hf_rows"] == out["local_rows"]  # same seeded order as a local file
    assert len(out["hf_rows"]) == 4
    assert out["hf_columns"] == [{"q": r["id"]} for r in HF_TEST_ROWS]
    assert out["hf_count"] is None  # unknown without a download
    assert "splits" in out["no_split"] and "pass split:" in out["no_split"]
    assert "'collab-tests/no-such-dataset'" in out["missing"]
    assert "offline" in out["missing"]


# --------------------------------------------------------------------------------------
# load mapping: templates:, options:, answer_is: (runtime.loadmap)
# --------------------------------------------------------------------------------------

SNLI_ROWS = [{"premise": "A man plays.", "hypothesis": "A man is playing.", "label": 0},
             {"premise": "A dog runs.", "hypothesis": "A cat sleeps.", "label": 2},
             {"premise": "Kids eat.", "hypothesis": "Kids are hungry.", "label": 1}]
NLI = ["entailment", "neutral", "contradiction"]


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_a_template_builds_a_column_and_an_index_answer_becomes_its_option(tmp_path):
    p = _jsonl(tmp_path / "snli.jsonl", SNLI_ROWS)
    rows = load_rows(p, templates={"question": "Premise: {premise}\nHypothesis: {hypothesis}"},
                     options="entailment|neutral|contradiction", columns={"answer": "label"}, answer_is="index0")
    assert rows == [{"answer": a, "question": f"Premise: {r['premise']}\nHypothesis: {r['hypothesis']}", "options": NLI}
                    for r, a in zip(SNLI_ROWS, ["entailment", "contradiction", "neutral"])]
    assert list(rows[0]) == ["answer", "question", "options"]  # columns: first, then the built ones
    two = load_rows(p, options=NLI, columns={"question": "premise", "answer": "label"}, answer_is="index0",
                    shuffle=True, seed=3)
    assert sorted((r["question"], r["answer"]) for r in two) == \
        [("A dog runs.", "contradiction"), ("A man plays.", "entailment"), ("Kids eat.", "neutral")]


def test_index_answers_counted_from_one_and_out_of_range_name_the_file_and_row(tmp_path):
    p = _jsonl(tmp_path / "snli.jsonl", SNLI_ROWS)
    with pytest.raises(DataError) as e:
        load_rows(p, options=NLI, columns={"answer": "label"}, answer_is="index1")
    assert str(e.value) == (f"{p}: row 1: answer index 0 is out of range: the row has 3 options, numbered 1 to 3 "
                            f"(answer_is \"index1\")")
    bad = _jsonl(tmp_path / "bad.jsonl", SNLI_ROWS + [{"premise": "x", "hypothesis": "y", "label": -1}])
    with pytest.raises(DataError, match=r"bad\.jsonl: row 4: answer index -1 is out of range"):
        load_rows(bad, options=NLI, columns={"answer": "label"}, answer_is="index0")
    # shuffled, the row is still named by its place in the file
    with pytest.raises(DataError, match=r"bad\.jsonl: row 4: "):
        load_rows(bad, options=NLI, columns={"answer": "label"}, answer_is="index0", shuffle=True, seed=1)
    with pytest.raises(DataError, match=r"row 1: answer 'zero' is not an index"):
        load_rows(_jsonl(tmp_path / "t.jsonl", [{"label": "zero"}]), options=NLI, columns={"answer": "label"},
                  answer_is="index0")


def test_csv_index_strings_and_letters_map_to_options(tmp_path):
    p = tmp_path / "mc.csv"
    p.write_text("q,a,b,c,key,pos\nWhich is red?,sky,blood,grass,B,2\nWhich is green?,sky,blood,grass,(c),3\n")
    rows = load_rows(p, templates={"question": "{q}", "options": "{a}"}, columns={"answer": "key"})
    assert rows[0] == {"answer": "B", "question": "Which is red?", "options": "sky"}  # one slot: the value as it is
    rows = load_rows(p, options="sky|blood|grass", columns={"question": "q", "answer": "key"}, answer_is="letter")
    assert [r["answer"] for r in rows] == ["blood", "grass"]
    rows = load_rows(p, options="sky|blood|grass", columns={"question": "q", "answer": "pos"}, answer_is="index1")
    assert [r["answer"] for r in rows] == ["blood", "grass"]
    with pytest.raises(DataError) as e:
        load_rows(p, options="sky|blood", columns={"answer": "key"}, answer_is="letter")
    assert str(e.value) == f"{p}: row 2: answer '(c)' is not among the options' letters A-B (the row has 2 options)"
    with pytest.raises(DataError, match=r"row 1: answer '2' is not an option letter"):
        load_rows(p, options="sky|blood|grass", columns={"answer": "pos"}, answer_is="letter")


def test_options_given_as_a_dict_of_letters_medqa(tmp_path):
    medqa = [{"question": "Which drug?", "answer_idx": "C",
              "options": {"A": "aspirin", "B": "heparin", "C": "warfarin", "D": "insulin"}},
             {"question": "Which organ?", "answer_idx": "a",
              "options": {"b": "lung", "a": "liver"}}]
    p = _jsonl(tmp_path / "medqa.jsonl", medqa)
    rows = load_rows(p, columns={"question": "question", "options": "options", "answer": "answer_idx"},
                     answer_is="letter")
    assert rows == [{"question": "Which drug?", "options": ["aspirin", "heparin", "warfarin", "insulin"],
                     "answer": "warfarin"},
                    {"question": "Which organ?", "options": ["liver", "lung"], "answer": "liver"}]
    text = load_rows(p, columns={"options": "options", "answer": "answer_idx"}, answer_is="text")
    assert text[0]["options"] == ["aspirin", "heparin", "warfarin", "insulin"] and text[0]["answer"] == "C"
    assert load_rows(p, columns={"options": "options"})[0]["options"] == medqa[0]["options"]  # no answer_is: as is
    gap = _jsonl(tmp_path / "gap.jsonl", [{"options": {"A": "x", "C": "y"}, "answer": "A"}])
    with pytest.raises(DataError, match=r"gap\.jsonl: row 1: the options are a dict whose keys \(A, C\) are not "
                                        r"the letters A, B, C, \.\.\. in sequence"):
        load_rows(gap, answer_is="letter")


def test_yes_no_answers_boolq_and_pubmedqa(tmp_path):
    boolq = _jsonl(tmp_path / "boolq.jsonl", [
        {"question": "is the sky blue", "passage": "The sky is blue.", "answer": True},
        {"question": "do fish fly", "passage": "Fish swim.", "answer": False}])
    rows = load_rows(boolq, templates={"question": "{passage}\n\nQuestion: {question}?"}, options="Yes|No",
                     columns={"answer": "answer"}, answer_is="bool")
    assert rows[0] == {"answer": "Yes", "question": "The sky is blue.\n\nQuestion: is the sky blue?",
                       "options": ["Yes", "No"]}
    assert rows[1]["answer"] == "No"
    assert [r["answer"] for r in load_rows(boolq, answer_is="bool")] == ["yes", "no"]  # no options: yes/no
    with pytest.raises(DataError, match=r"row 1: answer True is \"yes\", which is not among the options"):
        load_rows(boolq, options="true|false", answer_is="bool")
    pubmed = _jsonl(tmp_path / "pubmedqa.jsonl", [
        {"QUESTION": "Does X help?", "CONTEXTS": ["X was given.", "Y improved."], "final_decision": "maybe"}])
    rows = load_rows(pubmed, templates={"question": "Context: {CONTEXTS}\nQuestion: {QUESTION}"},
                     options="yes|no|maybe", columns={"answer": "final_decision"}, answer_is="text")
    assert rows == [{"answer": "maybe", "question": "Context: X was given.\nY improved.\nQuestion: Does X help?",
                     "options": ["yes", "no", "maybe"]}]
    with pytest.raises(DataError) as e:  # a text answer must be one of the fixed options, exactly
        load_rows(pubmed, options="Yes|No|Maybe", columns={"answer": "final_decision"})
    assert str(e.value) == (f"{pubmed}: row 1: answer 'maybe' is not among the options (Yes, No, Maybe); give "
                            "answer_is: (index0, index1, letter, bool) if the file gives it another way")


def test_templates_read_nested_fields_and_literal_braces(tmp_path):
    p = _jsonl(tmp_path / "arc.jsonl", [{"question": {"stem": "Which is hot?"},
                                         "choices": {"text": ["ice", "fire"], "label": ["A", "B"]},
                                         "answerKey": "B"}])
    rows = load_rows(p, templates={"question": "{{Q}} {question.stem}", "options": "{choices.text}"},
                     columns={"answer": "answerKey"}, answer_is="letter")
    assert rows == [{"answer": "fire", "question": "{Q} Which is hot?", "options": ["ice", "fire"]}]


def test_a_template_naming_a_missing_column_names_the_file_row_and_columns(tmp_path):
    p = _jsonl(tmp_path / "snli.jsonl", SNLI_ROWS)
    with pytest.raises(DataError) as e:
        load_rows(p, templates={"question": "Premise: {premis}"})
    assert str(e.value) == (f"{p}: row 1: the template of 'question' names the column 'premis', which the row does "
                            "not have; its columns: premise, hypothesis, label")


def test_mapping_conflicts_and_bad_values_are_errors(tmp_path):
    p = _jsonl(tmp_path / "snli.jsonl", SNLI_ROWS)
    with pytest.raises(DataError, match=r"options: gives every row the column 'options', but columns: maps "
                                        r"'options' from 'choices'"):
        load_rows(p, options=NLI, columns={"options": "choices"})
    with pytest.raises(DataError, match=r"templates: builds the column 'question', but columns: maps 'question' "
                                        r"from 'premise'"):
        load_rows(p, templates={"question": "{premise}!"}, columns={"question": "premise"})
    assert load_rows(p, templates={"question": "{premise}!"}, columns={"question": "question"}, limit=1) == \
        [{"question": "A man plays.!"}]  # naming the built column keeps it
    assert load_rows(p, templates={"question": None}, columns={"question": "premise"}, limit=1) == \
        [{"question": "A man plays."}]  # a none template is no template (a param's default)
    for kw, msg in [({"options": "yes"}, "options needs at least two options"),
                    ({"options": ["a", "a"]}, "names the option \"a\" twice"),
                    ({"options": "a||b"}, "has an empty option"),
                    ({"answer_is": "index"}, "unknown answer form \"index\"; expected one of text, index0, index1, "
                                             "letter, bool"),
                    ({"templates": {"q": "no slot"}}, "entry 'q' (\"no slot\") names no column"),
                    ({"templates": {"options": "{a}"}, "options": "x|y"}, "templates: builds the column 'options' "
                                                                         "and options: gives every row")]:
        with pytest.raises(DataError) as e:
            load_rows(p, **kw)
        assert msg in str(e.value), (kw, str(e.value))
    with pytest.raises(DataError, match=r"row 1: answer_is \"index0\" needs an options column"):
        load_rows(p, columns={"answer": "label"}, answer_is="index0")
    with pytest.raises(DataError, match=r"row 1: answer_is \"letter\" maps the 'answer' column, and the row has none"):
        load_rows(p, options=NLI, answer_is="letter")
