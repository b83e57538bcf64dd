"""Shared helpers for the compiler tests: write a program to a file and check or compile it."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not add the repo root
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def write(tmp_path):
    """``write(source, name="prog.collab") -> path`` of a file holding ``source``."""

    def _write(source: str, name: str = "prog.collab") -> str:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        return str(path)

    return _write


@pytest.fixture
def check(write):
    """``check(source) -> CompileResult`` of ``check_path`` on it."""
    from collabdsl.compiler import check_path

    return lambda source, name="prog.collab": check_path(write(source, name))


@pytest.fixture
def build(write):
    """``build(source, sets=None, models=None) -> CompileResult`` of ``compile_path`` on it."""
    from collabdsl.compiler import compile_path

    def _build(source: str, sets=None, models=None, name="prog.collab"):
        return compile_path(write(source, name), sets=sets, models=models)

    return _build

