"""``collab lint`` and the program entry point.

``main`` serves a plain ``collab lint PATH... [--format text|json] [--strict]`` without
importing typer (or anything but the compiler), which keeps lint's start-up small;
every other command line, ``--help`` and errors included, goes to the typer app in
``collabdsl.cli``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def collab_files(paths: list[Path]) -> list[str]:
    """Files named, and the .collab files inside folders named. ValueError: an empty folder."""
    out: list[str] = []
    for p in paths:
        if p.is_dir():
            found = sorted(str(f) for f in p.rglob("*.collab") if f.is_file())
            if not found:
                raise ValueError(f"{p}: no .collab files in this folder")
            out.extend(found)
        else:
            out.append(str(p))
    return out


def _color(stream) -> bool:
    return hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")


def styled(d, text: str, stream) -> str:
    """The diagnostic's first line in bold red (error) or yellow (warning) on a terminal."""
    if not _color(stream):
        return text
    head, nl, rest = text.partition("\n")
    code = "31" if d.is_error else "33"
    return f"\x1b[1;{code}m{head}\x1b[0m{nl}{rest}"


def print_diagnostics(diags, sources: dict, err: bool) -> tuple[int, int]:
    """Print diagnostics (URL credentials and secret query values masked, source lines too)."""
    from collabdsl.diagnostics import sort_key
    from collabdsl.masking import mask

    stream = sys.stderr if err else sys.stdout
    errors = warnings = 0
    for d in sorted(diags, key=sort_key):
        errors += d.is_error
        warnings += not d.is_error
        print(styled(d, mask(d.render(sources.get(d.span.path))), stream), file=stream)
    return errors, warnings


def lint_impl(paths: list[Path], fmt: str, strict: bool, allow_read: list | tuple = ()) -> int:
    from collabdsl.compiler import lint_paths

    try:
        files = collab_files(paths)
    except ValueError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    diags, sources = lint_paths(files, allow_read)
    errors = sum(1 for d in diags if d.is_error)
    warnings = len(diags) - errors
    if fmt == "json":
        from collabdsl.diagnostics import to_json
        from collabdsl.masking import mask

        print(mask(to_json(diags)))
    else:
        print_diagnostics(diags, sources, err=False)
        if diags:
            print(f"{plural(errors, 'error')}, {plural(warnings, 'warning')} in {plural(len(files), 'file')}")
        else:
            print(f"{plural(len(files), 'file')} checked, no problems")
    return 1 if errors or (strict and warnings) else 0


def fast_lint(argv: list[str]) -> int | None:
    """``collab lint`` for the plain forms of its arguments; None: let typer handle argv."""
    if not argv or argv[0] != "lint":
        return None
    paths: list[Path] = []
    allow: list[str] = []
    fmt, strict, i, only_paths = "text", False, 1, False
    while i < len(argv):
        a = argv[i]
        if only_paths or not a.startswith("-") or a == "-":
            paths.append(Path(a))
        elif a == "--":
            only_paths = True
        elif a == "--strict":
            strict = True
        elif a in ("--format", "-f") and i + 1 < len(argv) and argv[i + 1] in ("text", "json"):
            fmt = argv[i + 1]
            i += 1
        elif a.startswith("--format=") and a[len("--format="):] in ("text", "json"):
            fmt = a[len("--format="):]
        elif a == "--allow-read" and i + 1 < len(argv) and Path(argv[i + 1]).exists():
            allow.append(argv[i + 1])
            i += 1
        else:
            return None  # --help, typos, anything else: typer's messages
        i += 1
    if not paths:
        return None
    return lint_impl(paths, fmt, strict, allow)


def main() -> None:
    code = fast_lint(sys.argv[1:])
    if code is not None:
        sys.exit(code)
    from collabdsl.cli import app

    app()
