"""BM25 over the entries of one knowledge base.

A knowledge base holds entries (key, text). ``kb.retrieve(query, by: key|text, top: m)``
ranks one field of the entries by BM25 and returns the texts of the best ``m``: NesyCD's
Eq. 5 ranks the stored questions (the keys) and returns the knowledge stored under them.

The index is SQLite's FTS5 (porter stemming, its ``bm25()``), built in memory from the
entries of that one knowledge base when a retrieval node runs: the document frequencies
and the mean length are those of the knowledge base itself, never of other knowledge
bases or of other runs kept in the same store (which would make a run's ranking depend on
the store's history). Each word of a query is quoted and the words are OR-ed, so any text
is a valid query; a query without word characters finds nothing. Ties keep the order of
writing.
"""
from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Mapping

FIELDS = ("key", "text")  # what a retrieval can rank (the language's `by:`)
_TOKEN = re.compile(r"\w+")


def fts_query(query: str) -> str | None:
    """The FTS5 query OR-ing the quoted words of ``query`` (None: it has no word)."""
    tokens = list(dict.fromkeys(t.lower() for t in _TOKEN.findall(query or "")))
    return " OR ".join(f'"{t}"' for t in tokens) if tokens else None  # \w+ holds no quote


class KBIndex:
    """BM25 over field ``by`` of ``entries`` ({key, text} in the order they were written)."""

    def __init__(self, entries: Iterable[Mapping], by: str = "text"):
        if by not in FIELDS:
            raise ValueError(f"a retrieval ranks one of {', '.join(FIELDS)}, not {by!r}")
        self.by = by
        self.texts: list[str] = []
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("create virtual table idx using fts5(field, tokenize = 'porter')")
        rows = []
        for i, e in enumerate(entries, start=1):
            self.texts.append(str(e["text"]))
            rows.append((i, str(e[by] or "")))
        self.db.executemany("insert into idx(rowid, field) values (?, ?)", rows)

    def __len__(self) -> int:
        return len(self.texts)

    def search(self, query: str, top: int = 1) -> list[tuple[str, float]]:
        """[(text, score)], best first; score = -bm25() (higher is better)."""
        q = fts_query(query)
        if q is None or top <= 0 or not self.texts:
            return []
        hits = self.db.execute("select rowid, -bm25(idx) from idx where idx match ? "
                               "order by bm25(idx), rowid limit ?", (q, int(top))).fetchall()
        return [(self.texts[rowid - 1], score) for rowid, score in hits]

    def close(self) -> None:
        self.db.close()
