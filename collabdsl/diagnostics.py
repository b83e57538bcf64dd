"""Diagnostics: ``path:line:col: CODE severity: message``, the source line and a caret."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from collabdsl.ast import Span


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: str  # "error" | "warning"
    message: str
    span: Span

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def render(self, source: str | None = None) -> str:
        head = f"{self.span.path}:{self.span.line}:{self.span.col}: {self.code} {self.severity}: {self.message}"
        if not source or self.span.line < 1:
            return head
        lines = source_lines(source)
        if self.span.line > len(lines):
            return head
        text = lines[self.span.line - 1]
        width = 1
        if self.span.end_line == self.span.line and self.span.end_col > self.span.col:
            width = self.span.end_col - self.span.col
        caret = " " * (self.span.col - 1) + "^" * max(1, min(width, len(text) - self.span.col + 2))
        return f"{head}\n    {text}\n    {caret}"

    def to_dict(self) -> dict:
        s = self.span
        return {"path": s.path, "line": s.line, "col": s.col, "end_line": s.end_line,
                "end_col": s.end_col, "code": self.code, "severity": self.severity,
                "message": self.message}


@functools.lru_cache(maxsize=16)
def source_lines(source: str) -> list[str]:
    """The lines of a source, split once: rendering every diagnostic of a file is linear in
    the file and the number of diagnostics, not their product."""
    return source.splitlines()


def error(code: str, message: str, span: Span) -> Diagnostic:
    return Diagnostic(code, "error", message, span)


def warning(code: str, message: str, span: Span) -> Diagnostic:
    return Diagnostic(code, "warning", message, span)


def sort_key(d: Diagnostic):
    return (d.span.path, d.span.line, d.span.col, d.code)


def render_all(diags: list[Diagnostic], sources: dict[str, str]) -> str:
    return "\n".join(d.render(sources.get(d.span.path)) for d in sorted(diags, key=sort_key))


def to_json(diags: list[Diagnostic]) -> str:
    return json.dumps([d.to_dict() for d in sorted(diags, key=sort_key)], indent=2)


class CompileError(Exception):
    """Raised by the high-level API when a program has errors."""

    def __init__(self, diagnostics: list[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = diagnostics
        self.sources = sources or {}
        super().__init__(render_all([d for d in diagnostics if d.is_error], self.sources))
