"""Constants and small helpers shared by the compiler tests (fixtures live in conftest.py)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
LINT = FIXTURES / "lint"
PROGRAMS = FIXTURES / "programs"

# The start of most small test programs: a header, two models, a data set and a prompt.
HEAD = '''program t "test"
model small = embedded("smollm2-135m-instruct") trainable
model large = embedded("smollm2-135m-instruct") frozen
data train = load("builtin:science-mc", split: "train")
prompt p(q) = "Q: {q}"
'''


def codes(result) -> list[tuple[str, int, int]]:
    """(code, line, col) of every diagnostic, sorted."""
    return sorted((d.code, d.span.line, d.span.col) for d in result.diagnostics)


def code_set(result) -> set[str]:
    return {d.code for d in result.diagnostics}


UNUSED = ("W201", "W202", "W203", "W204")


def findings(result) -> list[tuple[str, int, int]]:
    """Like ``codes`` without the unused-definition warnings (W201-W204) that small test
    programs built on HEAD trigger."""
    return [c for c in codes(result) if c[0] not in UNUSED]
