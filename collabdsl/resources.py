"""Where the grammar and the stdlib live: inside the installed package, or in the
repository checkout for an editable install."""
from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent
_REPO = _PKG.parent


def grammar_path() -> Path:
    for p in (_PKG / "_grammar" / "collab.lark", _REPO / "grammar" / "collab.lark"):
        if p.is_file():
            return p
    raise FileNotFoundError("collab.lark not found: the collab installation is incomplete")


def stdlib_dir() -> Path:
    for p in (_PKG / "_stdlib", _REPO / "stdlib"):
        if p.is_dir():
            return p
    raise FileNotFoundError("stdlib not found: the collab installation is incomplete")
