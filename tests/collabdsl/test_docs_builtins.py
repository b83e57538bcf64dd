"""Every builtin the checker knows is documented in docs/language.md §20 (issue 12: index_of,
mc_options, mc_question and letter_index were missing)."""
from __future__ import annotations

import re
from pathlib import Path

from collabdsl.builtins import DATA_BUILTINS, ROW_BUILTINS

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"


def _section(n: int) -> str:
    text = DOC.read_text()
    start = text.index(f"\n## {n}. ")
    return text[start: text.index("\n## ", start + 1)]


def test_every_builtin_is_in_section_20():
    s20 = _section(20)
    named = set(re.findall(r"`([a-z_]+)\(", s20))  # `name(...)` in the table
    named |= {w for cell in re.findall(r"\| `([a-z_ ]+)` \|", s20) for w in cell.split()}  # `strip lower ...`
    named |= set(re.findall(r"[a-z_]+", s20.split("Data builtins", 1)[1].split("\n\n", 1)[0]))
    missing = sorted(set(ROW_BUILTINS) - named) + sorted(set(DATA_BUILTINS) - named)
    assert not missing, f"builtins missing from docs/language.md §20: {missing}"
