"""Render the IR (a networkx DiGraph, see ``collabdsl.ir``) as mermaid, Graphviz dot, JSON,
or, through the ``dot`` binary, SVG/PNG.

Every text format is deterministic: the same graph gives byte-identical text. Nodes are
emitted in run order (``G.graph["order"]``, then any stray node sorted by id), edges in
the order of their endpoints.

Drawing conventions (mermaid / dot):

* loops are ``subgraph`` blocks / ``cluster`` subgraphs titled ``repeat 2 ×`` or
  ``repeat until ... (max 5)``; a loop node is never drawn as a box;
* gates are diamonds, and their edges into the gated nodes say ``yes`` / ``no``;
* ``train`` nodes are subroutine boxes ``[[train small kd]]`` (dot: double border), and
  ``version`` edges (a trained model version flowing into its users) are dashed;
* ``load`` is a cylinder, the other data-set operations are stadiums;
* ``eval`` is a hexagon; knowledge-base operations are parallelograms.

This module imports networkx only inside :func:`to_json`; it never imports heavy libraries.
"""
from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from collabdsl import ast as A
from collabdsl.masking import mask
from collabdsl.unparse import expr_text

TEXT_FORMATS = ("mermaid", "dot", "json")
IMAGE_FORMATS = ("svg", "png")
FORMATS = TEXT_FORMATS + IMAGE_FORMATS

DOT_NOT_FOUND = ("Graphviz 'dot' not found: install Graphviz (apt-get install graphviz / "
                 "brew install graphviz) or use --format mermaid|dot|json")

DATA_KINDS = ("load", "split", "concat", "take", "shuffle", "fewshot", "filter", "expand")
MODEL_KINDS = ("generate", "sample", "score", "choose")
KB_KINDS = ("kb_write", "retrieve")

MAX_LABEL = 80


class DotNotFound(RuntimeError):
    """The Graphviz ``dot`` binary is not on PATH."""

    def __init__(self) -> None:
        super().__init__(DOT_NOT_FOUND)


class DotFailed(RuntimeError):
    """``dot`` ran but failed."""


# ------------------------------------------------------------------ JSON-safe values
_DROP = object()


def jsonable(v: Any) -> Any:
    """A JSON-safe copy of ``v``: AST nodes become their source text, spans ``path:line:col``,
    sets sorted lists; values with no faithful text form (functions, objects) are dropped."""
    out = _jsonable(v)
    return None if out is _DROP else out


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, str):
        return str(v)
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, A.Span):
        return str(v)
    if isinstance(v, A.Node):
        return expr_text(v)
    if isinstance(v, enum.Enum):
        return _jsonable(v.value)
    if isinstance(v, dict):
        out = {}
        for k, val in v.items():
            j = _jsonable(val)
            if j is not _DROP:
                out[str(k)] = j
        return out
    if isinstance(v, (list, tuple)):
        items = [_jsonable(i) for i in v]
        return [i for i in items if i is not _DROP]
    if isinstance(v, (set, frozenset)):
        items = [_jsonable(i) for i in v]
        items = [i for i in items if i is not _DROP]
        return sorted(items, key=lambda i: json.dumps(i, sort_keys=True, default=str))
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _jsonable({f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
    return _DROP


SECRET_NAME = re.compile(r"api[_-]?key|secret|passw(or)?d|authorization|private[_-]?key|(^|[_\-.])token$",
                         re.IGNORECASE)


def safe_ref(text: Any) -> Any:
    """A string with URL credentials and secret query parameters removed (others unchanged):
    :func:`collabdsl.masking.mask`, the rule shared with the run store and the command line."""
    return mask(text)


def redact(v: Any) -> Any:
    """``v`` with values under secret-looking keys replaced and URL credentials removed."""
    if isinstance(v, dict):
        return {k: "[REDACTED]" if SECRET_NAME.search(str(k)) and val not in (None, "") else redact(val)
                for k, val in v.items()}
    if isinstance(v, list):
        return [redact(i) for i in v]
    return safe_ref(v)


# ------------------------------------------------------------------ graph helpers
def node_order(G) -> list:
    """Node ids in run order: ``G.graph["order"]`` first, then any other node sorted by id."""
    seen, out = set(), []
    for n in G.graph.get("order") or []:
        if n in G and n not in seen:
            seen.add(n)
            out.append(n)
    rest = sorted((n for n in G.nodes if n not in seen), key=str)
    return out + rest


def _index(G) -> dict:
    return {n: i for i, n in enumerate(node_order(G))}


def ordered_edges(G) -> list[tuple]:
    idx = _index(G)
    return sorted(G.edges(data=True),
                  key=lambda e: (idx[e[0]], idx[e[1]], str(e[2].get("kind", "")), str(e[2].get("label", ""))))


def _loop_ancestors(G, n) -> list:
    """The loops around ``n``, outermost first."""
    chain, seen = [], set()
    p = G.nodes[n].get("parent")
    while p is not None and p in G and p not in seen:
        seen.add(p)
        chain.append(p)
        p = G.nodes[p].get("parent")
    return chain[::-1]


def _inside(G, n, loop) -> bool:
    return loop in _loop_ancestors(G, n)


def _children(G, order: list) -> dict:
    kids: dict = {}
    for n in order:
        p = G.nodes[n].get("parent")
        kids.setdefault(p if p in G else None, []).append(n)
    return kids


def _fmt_value(v: Any) -> str:
    if isinstance(v, A.Node):
        return expr_text(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def loop_title(attrs: dict) -> str:
    """``repeat 2 ×``, ``repeat until count(rejected) == 0 (max 5)``; `` as i`` when named."""
    opts = attrs.get("options") or {}
    var = opts.get("var") or opts.get("as")
    suffix = f" as {var}" if var else ""
    if opts.get("count") is not None:
        return f"repeat {_fmt_value(opts['count'])} ×{suffix}"
    if opts.get("rows_left"):  # repeat for x in D until ...: each row leaves when its condition holds
        return str(attrs.get("label") or "repeat for rows")
    if opts.get("until") is not None:
        mx = opts.get("max")
        cap = f" (max {_fmt_value(mx)})" if mx is not None else ""
        return f"repeat until {_fmt_value(opts['until'])}{cap}{suffix}"
    return str(attrs.get("label") or "repeat")


def _expr_of(attrs: dict, key: str) -> Any:
    expr = attrs.get("expr")
    return expr.get(key) if isinstance(expr, dict) else None


def node_label(attrs: dict, node_id: Any = None) -> str:
    """Short text for a node: the IR's ``label`` with its elided parts (``...``) filled in from
    the node's expressions (a gate's condition, a computed value, a filter's condition)."""
    label = attrs.get("label")
    kind = attrs.get("kind")
    if kind == "loop":
        label = loop_title(attrs)
    elif label and "..." in str(label):
        key = {"gate": "cond", "compute": "value", "filter": "cond"}.get(str(kind))
        e = _expr_of(attrs, key) if key else None
        if isinstance(e, A.Node):
            label = str(label).replace("...", expr_text(e), 1)
    if not label:
        kind = attrs.get("kind", "node")
        out = attrs.get("out")
        if isinstance(out, (list, tuple)):
            out = ", ".join(map(str, out))
        label = f"{kind} {out}" if out else f"{kind} {node_id}" if node_id is not None else kind
    label = " ".join(str(label).split())
    if len(label) > MAX_LABEL:
        label = label[:MAX_LABEL - 1] + "…"
    return label


def _edge_label(G, u, v, attrs: dict) -> str:
    src = G.nodes[u]
    if src.get("kind") == "gate":
        col = src.get("out")
        when = [str(w) for w in (G.nodes[v].get("when") or [])]
        if col and f"!{col}" in when:
            return "no"
        if col and str(col) in when:
            return "yes"
    label = attrs.get("label")
    if isinstance(label, (list, tuple)):
        label = ", ".join(map(str, label))
    return "" if label is None else " ".join(str(label).split())


def _drawn_edges(G) -> list[tuple]:
    """Edges to draw, with loop nodes resolved: an edge into a loop node is a twin of an edge
    into its body and is dropped when the twin exists (likewise out of a loop); otherwise it
    is kept and drawn to the loop's box. Returns (u, v, attrs, u_is_loop, v_is_loop)."""
    out = []
    for u, v, d in ordered_edges(G):
        if d.get("twin"):
            continue
        u_loop = G.nodes[u].get("kind") == "loop"
        v_loop = G.nodes[v].get("kind") == "loop"
        if v_loop and not _inside(G, u, v) and any(_inside(G, w, v) for w in G.successors(u)):
            continue  # the twin of an edge into the body
        if u_loop and not _inside(G, v, u) and any(_inside(G, w, u) for w in G.predecessors(v)):
            continue
        if (v_loop and _inside(G, u, v)) or (u_loop and _inside(G, v, u)):
            continue  # a loop and its own body: the box already says it
        out.append((u, v, d, u_loop, v_loop))
    return out


def sanitize_ids(G, order: list, prefix: str = "n_") -> dict:
    """Stable, unique ``[A-Za-z0-9_]`` ids for every node (mermaid/dot-safe)."""
    ids, used = {}, set()
    for n in order:
        base = prefix + (re.sub(r"[^A-Za-z0-9_]", "_", str(n)).strip("_") or "node")
        cand, i = base, 2
        while cand in used:
            cand = f"{base}_{i}"
            i += 1
        used.add(cand)
        ids[n] = cand
    return ids


# ------------------------------------------------------------------ mermaid
_MM_SHAPES = {
    "load": ('[(', ')]'),
    "gate": ('{', '}'),
    "train": ('[[', ']]'),
    "eval": ('{{', '}}'),
    "compute": ('(', ')'),
    "kb_write": ('[/', '/]'),
    "retrieve": ('[/', '/]'),
}
_MM_CLASSES = (
    ("data", "fill:#e3f2fd,stroke:#1e88e5"),
    ("model", "fill:#fff3e0,stroke:#fb8c00"),
    ("train", "fill:#ffebee,stroke:#e53935,stroke-width:2px"),
    ("gate", "fill:#f5f5f5,stroke:#757575"),
    ("kb", "fill:#f3e5f5,stroke:#8e24aa"),
    ("eval", "fill:#e8f5e9,stroke:#43a047"),
)


def _mm_text(s: str) -> str:
    return s.replace('"', "#quot;").replace("<", "#60;")


def _css_class(kind: str) -> str | None:
    if kind in DATA_KINDS:
        return "data"
    if kind in MODEL_KINDS:
        return "model"
    if kind in KB_KINDS:
        return "kb"
    if kind in ("train", "gate", "eval"):
        return kind
    return None


def to_mermaid(G) -> str:
    order = node_order(G)
    ids = sanitize_ids(G, order)
    kids = _children(G, order)
    lines = ["flowchart TD"]
    name, desc = G.graph.get("name"), G.graph.get("description")
    if name or desc:
        lines.append("  %% " + " ".join(f"{name or ''}: {desc or ''}".split()).strip(": "))

    def emit(parent, depth):
        pad = "  " * depth
        for n in kids.get(parent, []):
            a = G.nodes[n]
            kind = a.get("kind")
            if kind == "loop":
                lines.append(f'{pad}subgraph {ids[n]} ["{_mm_text(loop_title(a))}"]')
                emit(n, depth + 1)
                lines.append(f"{pad}end")
                continue
            if kind in DATA_KINDS and kind != "load":
                op, cl = "([", "])"
            else:
                op, cl = _MM_SHAPES.get(kind, ("[", "]"))
            lines.append(f'{pad}{ids[n]}{op}"{_mm_text(node_label(a, n))}"{cl}')

    emit(None, 1)
    for u, v, d, _, _ in _drawn_edges(G):
        arrow = "-.->" if d.get("kind") == "version" else "-->"
        label = _edge_label(G, u, v, d)
        mid = f'|"{_mm_text(label)}"|' if label else ""
        lines.append(f"  {ids[u]} {arrow}{mid} {ids[v]}")
    members: dict = {}
    for n in order:
        c = _css_class(G.nodes[n].get("kind", ""))
        if c:
            members.setdefault(c, []).append(ids[n])
    for c, style in _MM_CLASSES:
        if c in members:
            lines.append(f"  classDef {c} {style}")
            lines.append(f"  class {','.join(members[c])} {c}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ dot
def _dq(s: Any) -> str:
    s = str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


_DOT_SHAPES = {
    "load": 'shape=cylinder, fillcolor="#e3f2fd"',
    "gate": 'shape=diamond, fillcolor="#f5f5f5"',
    "train": 'shape=box, peripheries=2, fillcolor="#ffebee"',
    "eval": 'shape=hexagon, fillcolor="#e8f5e9"',
    "compute": 'shape=box, style="rounded,filled", fillcolor="#ffffff"',
    "kb_write": 'shape=parallelogram, fillcolor="#f3e5f5"',
    "retrieve": 'shape=parallelogram, fillcolor="#f3e5f5"',
}
_DOT_DATA = 'shape=box, style="rounded,filled", fillcolor="#e3f2fd"'
_DOT_MODEL = 'shape=box, fillcolor="#fff3e0"'


def _first_leaf(G, loop, kids) -> Any:
    for n in kids.get(loop, []):
        if G.nodes[n].get("kind") == "loop":
            leaf = _first_leaf(G, n, kids)
            if leaf is not None:
                return leaf
        else:
            return n
    return None


def to_dot(G) -> str:
    order = node_order(G)
    ids = sanitize_ids(G, order)
    kids = _children(G, order)
    name = G.graph.get("name") or "collab"
    title = " ".join(f"{G.graph.get('name') or ''}: {G.graph.get('description') or ''}".split()).strip(": ")
    lines = [f"digraph {_dq(name)} {{"]
    gattrs = 'rankdir=TB, compound=true, fontname="Helvetica", fontsize=12'
    if title:
        gattrs += f", label={_dq(title)}, labelloc=t"
    lines.append(f"  graph [{gattrs}];")
    lines.append('  node [fontname="Helvetica", fontsize=11, style=filled, shape=box];')
    lines.append('  edge [fontname="Helvetica", fontsize=9];')
    anchors: dict = {}

    def emit(parent, depth):
        pad = "  " * depth
        for n in kids.get(parent, []):
            a = G.nodes[n]
            kind = a.get("kind")
            if kind == "loop":
                cid = "cluster_" + ids[n]
                lines.append(f"{pad}subgraph {cid} {{")
                lines.append(f'{pad}  label={_dq(loop_title(a))}; style="rounded,dashed"; color="#616161";')
                emit(n, depth + 1)
                leaf = _first_leaf(G, n, kids)
                if leaf is None:  # empty body: an invisible point to attach edges to
                    lines.append(f"{pad}  {ids[n]}__anchor [shape=point, style=invis, label=\"\"];")
                    anchors[n] = f"{ids[n]}__anchor"
                else:
                    anchors[n] = ids[leaf]
                lines.append(f"{pad}}}")
                continue
            if kind in _DOT_SHAPES:
                shape = _DOT_SHAPES[kind]
            elif kind in DATA_KINDS:
                shape = _DOT_DATA
            elif kind in MODEL_KINDS:
                shape = _DOT_MODEL
            else:
                shape = 'shape=box, fillcolor="#ffffff"'
            lines.append(f"{pad}{ids[n]} [label={_dq(node_label(a, n))}, {shape}];")

    emit(None, 1)
    for u, v, d, u_loop, v_loop in _drawn_edges(G):
        attrs = []
        label = _edge_label(G, u, v, d)
        if label:
            attrs.append(f"label={_dq(label)}")
        if d.get("kind") == "version":
            attrs.append('style=dashed, color="#e53935"')
        src, dst = ids[u], ids[v]
        if u_loop:
            src = anchors.get(u, src)
            attrs.append(f"ltail=cluster_{ids[u]}")
        if v_loop:
            dst = anchors.get(v, dst)
            attrs.append(f"lhead=cluster_{ids[v]}")
        tail = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f"  {src} -> {dst}{tail};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ json
def to_json_data(G) -> dict:
    """node-link data (``networkx.node_link_data``) with JSON-safe attributes, nodes in run
    order and edges in endpoint order."""
    import networkx as nx

    H = nx.DiGraph()
    H.graph.update(redact(jsonable(dict(G.graph)) or {}))
    for n in node_order(G):
        H.add_node(n, **(jsonable(dict(G.nodes[n])) or {}))
    for u, v, d in ordered_edges(G):
        H.add_edge(u, v, **(jsonable(dict(d)) or {}))
    try:
        return nx.node_link_data(H, edges="edges")
    except TypeError:  # networkx < 3.4
        return nx.node_link_data(H, link="edges")


def to_json(G) -> str:
    return json.dumps(to_json_data(G), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# ------------------------------------------------------------------ entry points
def render(G, fmt: str) -> str:
    """Text of ``G`` in a text format: mermaid, dot or json."""
    if fmt == "mermaid":
        return to_mermaid(G)
    if fmt == "dot":
        return to_dot(G)
    if fmt == "json":
        return to_json(G)
    raise ValueError(f"unknown text format {fmt!r}; expected one of {', '.join(TEXT_FORMATS)}")


def dot_binary() -> str | None:
    return shutil.which("dot")


def render_image(G, fmt: str, out: str | Path, timeout: float = 60.0) -> Path:
    """Write ``G`` as ``svg`` or ``png`` to ``out`` with Graphviz. Raises :class:`DotNotFound`
    when ``dot`` is not on PATH and :class:`DotFailed` when it fails."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; expected one of {', '.join(IMAGE_FORMATS)}")
    exe = dot_binary()
    if exe is None:
        raise DotNotFound()
    out = Path(out)
    try:
        proc = subprocess.run([exe, f"-T{fmt}", "-o", str(out)], check=False, input=to_dot(G).encode("utf-8"),
                              capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DotFailed(f"Graphviz 'dot' failed: {exc}") from exc
    if proc.returncode != 0:
        msg = proc.stderr.decode("utf-8", "replace").strip() or f"exit status {proc.returncode}"
        raise DotFailed(f"Graphviz 'dot' failed: {msg}")
    return out


def formats() -> Iterable[str]:
    return FORMATS
