"""Imports: ``from stdlib.qa import a, b`` and ``from "file.collab" import a``.

An imported module may hold prompts, steps, params and imports. The named
definitions, and the module definitions they use, are added to the program (marked
``imported``) where the import stands; their spans keep pointing into the module.
The names an import could not bring in (E111) stay in the program as an ``Import`` of
just those names, so that their uses are not reported again as undefined. A file import
outside the folders the program may read (``policy``, see :mod:`collabdsl.access`) is not
read: E126, the import left in place the same way.
"""
from __future__ import annotations

from pathlib import Path

from collabdsl import ast as A
from collabdsl.access import link_check
from collabdsl.diagnostics import Diagnostic, error
from collabdsl.parser import parse_file
from collabdsl.resources import stdlib_dir

EXPORTABLE = (A.Prompt, A.Step, A.Param)


def module_path(imp: A.Import, importer: str) -> Path:
    if imp.is_file:
        return (Path(importer).parent / imp.module).resolve()
    parts = imp.module.split(".")
    if parts[0] == "stdlib":
        parts = parts[1:]
    return stdlib_dir().joinpath(*parts).with_suffix(".collab")


def _names_used(node: A.Node) -> set[str]:
    used = set()
    for n in node.walk():
        if isinstance(n, A.Name):
            used.add(str(n.id))
    return used


def link(program: A.Program, policy=None, _stack: tuple[str, ...] = ()) -> tuple[A.Program, list[Diagnostic], dict]:
    diags: list[Diagnostic] = []
    sources: dict[str, str] = {}
    body: list = []
    for st in program.body:
        if not isinstance(st, A.Import):
            body.append(st)
            continue
        shown = st.module if st.is_file else f"stdlib module '{st.module}'"
        try:
            path = module_path(st, program.path)
            found = path.is_file()
            refused = link_check(path, policy, shown)
        except (OSError, ValueError, RuntimeError):  # a name the system rejects: NUL, too long, loop
            path, found, refused = Path(st.module), False, None
        if refused:
            diags.append(error("E126", refused, st.span))
            body.append(st)
            continue
        if str(path) in _stack:
            diags.append(error("E111", f"import cycle: {shown} imports this file again", st.span))
            body.append(st)
            continue
        if not found:
            diags.append(error("E111", f"cannot import {shown}: {path.name} not found", st.span))
            body.append(st)
            continue
        module, mdiags = parse_file(path)
        if module is None:
            diags.append(error("E111", f"cannot import {shown}: it has errors", st.span))
            diags.extend(mdiags)
            body.append(st)
            continue
        sources[module.path] = module.source
        module, sub_diags, sub_sources = link(module, policy, _stack + (program.path, str(path)))
        diags.extend(d for d in sub_diags if d.is_error)
        sources.update(sub_sources)
        defs = {str(d.name): d for d in module.body if isinstance(d, EXPORTABLE)}
        others = [d for d in module.body if not isinstance(d, (*EXPORTABLE, A.Import))]
        for d in others:
            diags.append(error("E111", f"a module may only define prompts, steps and params; "
                               f"found a {type(d).__name__.lower()}", d.span))
        wanted: list[str] = []
        missing: list[A.Ident] = []
        for name in st.names:
            if str(name) not in defs:
                diags.append(error("E111", f"{shown} has no '{name}'"
                                   + (f" (it defines: {', '.join(sorted(defs))})" if defs else ""), name.span))
                missing.append(name)
            else:
                wanted.append(str(name))
        if missing:
            body.append(A.Import(st.span, st.module, st.is_file, missing))
        # bring in what the named definitions use, transitively
        todo, taken = list(wanted), []
        while todo:
            n = todo.pop()
            if n in taken:
                continue
            taken.append(n)
            todo.extend(u for u in _names_used(defs[n]) if u in defs and u not in taken)
        for n in sorted(taken, key=lambda n: (defs[n].span.line, defs[n].span.col)):
            d = defs[n]
            d.imported = True  # not reported as unused in the importer
            body.append(d)
    program.body = body
    return program, diags, sources
