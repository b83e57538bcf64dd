"""What ``collab report`` needs from the program's graph: the program compiled again with the
run's params (only when its source is still the one the run ran: same program hash), its
drawing as inline SVG (Graphviz when ``dot`` is installed, else a layout of our own in run
order, no network), the model role of every operation, and which model operations each
evaluated system's column is computed from (the inference cost of a system)."""
from __future__ import annotations

import html
import shutil
import tempfile
from pathlib import Path

from collabdsl import render

MODEL_KINDS = render.MODEL_KINDS
FILL = {"data": ("#e3f2fd", "#1e88e5"), "model": ("#fff3e0", "#fb8c00"), "train": ("#ffebee", "#e53935"),
        "gate": ("#f5f5f5", "#757575"), "kb": ("#f3e5f5", "#8e24aa"), "eval": ("#e8f5e9", "#43a047")}


class Program:
    """The run's program compiled again: ``G`` (None with ``note`` saying why)."""

    def __init__(self, G=None, note: str | None = None):
        self.G, self.note = G, note

    # ---------------------------------------------------------------- node keys
    @staticmethod
    def split_key(key: str) -> tuple[str, tuple]:
        """``n7@2.1`` -> ``("n7", ("2", "1"))``: a store node id and its loop iteration."""
        base, _, it = str(key).partition("@")
        return base, tuple(it.split(".")) if it else ()

    def attrs(self, key: str) -> dict:
        base, _ = self.split_key(key)
        return dict(self.G.nodes[base]) if self.G is not None and base in self.G else {}

    def label(self, key: str) -> str:
        base, it = self.split_key(key)
        if self.G is None or base not in self.G:
            return ""
        return render.node_label(self.G.nodes[base], base) + (f" (iteration {'.'.join(it)})" if it else "")

    def role(self, key: str) -> str | None:
        a = self.attrs(key)
        return a.get("model") if a.get("kind") in MODEL_KINDS else None

    def system_nodes(self, eval_key: str) -> dict[str, list[str]]:
        """{system label: store keys of the model operations its column is computed from}: the
        column's ancestors along column edges (not along data-set edges, which carry every
        row, nor along the dashed edges of a trained version: training is not inference)."""
        G = self.G
        base, it = self.split_key(eval_key)
        if G is None or base not in G or G.nodes[base].get("kind") != "eval":
            return {}
        sets = {str(o) for _, a in G.nodes(data=True) if a.get("kind") in render.DATA_KINDS
                for o in (a.get("out") if isinstance(a.get("out"), (list, tuple)) else [a.get("out")])}
        out = {}
        for s in (G.nodes[base].get("options") or {}).get("systems") or []:
            todo = [u for u, _, d in G.in_edges(base, data=True) if str(d.get("label")) == s.get("column")]
            seen = set(todo)
            while todo:
                n = todo.pop()
                for u, _, d in G.in_edges(n, data=True):
                    if u in seen or d.get("kind") == "version" or str(d.get("label")) in sets:
                        continue
                    seen.add(u)
                    todo.append(u)
            keys = []
            for n in sorted(seen, key=str):
                if G.nodes[n].get("kind") in MODEL_KINDS:
                    depth = len(render._loop_ancestors(G, n))
                    keys.append(n + ("@" + ".".join(it[:depth]) if depth and it[:depth] else ""))
            out[str(s.get("label"))] = keys
        return out


def _param_text(v) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def load_program(run: dict) -> Program:
    """The run's program compiled again with its recorded params (model bindings do not change
    the graph's shape), or a Program without a graph and a one-line note why."""
    path = run.get("program_path")
    if not path or not Path(path).is_file():
        return Program(note=f"the program {path} is not here any more")
    try:
        from collabdsl.compiler import compile_path
        from runtime.store import program_hash

        base = compile_path(str(path), profile="none", allow_read=["/"])
        if base.graph is None:
            return Program(note=f"{path} does not compile any more")
        phash = program_hash(path, [p for p in base.sources if Path(p).resolve() != Path(path).resolve()])
        if run.get("program_hash") and phash != run["program_hash"]:
            return Program(note=f"{path} has changed since the run (its hash differs): not drawn, "
                                "and calls are not attributed to roles")
        recorded = run.get("params") or {}
        sets = {k: _param_text(v) for k, v in recorded.items()
                if v is not None and base.params.get(k) != v}
        res = compile_path(str(path), sets=sets, profile="none", allow_read=["/"]) if sets else base
        differ = sorted(k for k, v in recorded.items() if res.params.get(k) != v) if res.graph is not None else ["?"]
        if res.graph is None or differ:
            return Program(note=f"{path} could not be compiled again with the run's params"
                                + (f" ({', '.join(differ)})" if differ != ["?"] else ""))
        return Program(res.graph)
    except Exception as exc:  # noqa: BLE001 - the report goes on without the graph
        return Program(note=f"{path} could not be compiled again: {type(exc).__name__}: {exc}")


# ------------------------------------------------------------------ drawing
def graph_svg(prog: Program) -> tuple[str, str]:
    """(inline SVG, how it was drawn) of the program's graph."""
    if shutil.which("dot"):
        try:
            with tempfile.TemporaryDirectory() as tmp:
                out = render.render_image(prog.G, "svg", Path(tmp) / "g.svg")
                text = out.read_text(encoding="utf-8")
            return text[text.index("<svg"):], "drawn by Graphviz"
        except (render.DotFailed, render.DotNotFound, OSError, ValueError):
            pass
    return _own_svg(prog.G), "in run order (Graphviz is not installed); edges arc on the right"


def _own_svg(G) -> str:
    """Each operation a box on its own row in run order, indented inside its loops (dashed
    boxes titled like ``collab graph``'s), edges as arcs to the right of the boxes."""
    order = [n for n in render.node_order(G)]
    row_h, indent, box_w = 26, 18, 420
    rows, y = {}, 10
    loops: dict = {}
    for n in order:
        depth = len(render._loop_ancestors(G, n))
        if G.nodes[n].get("kind") == "loop":
            loops[n] = [y, None, depth]
            y += 20
            continue
        rows[n] = (y, depth)
        y += row_h
    for lp in loops:  # a loop's box spans its body's rows
        body = [rows[n][0] for n in rows if lp in render._loop_ancestors(G, n)]
        loops[lp][1] = (max(body) + row_h - 4) if body else loops[lp][0] + 20
    right = 10 + box_w
    parts = []
    for lp, (y0, y1, depth) in loops.items():
        x = 6 + depth * indent
        parts.append(f'<rect x="{x}" y="{y0}" width="{right - x + 6}" height="{y1 - y0 + 2}" fill="none" '
                     f'stroke="#607d8b" stroke-dasharray="4 3"/><text x="{x + 4}" y="{y0 + 13}" font-size="11" '
                     f'fill="#37474f">{html.escape(render.loop_title(G.nodes[lp]))}</text>')
    for n, (yy, depth) in rows.items():
        a = G.nodes[n]
        x = 10 + depth * indent
        fill, stroke = FILL.get(render._css_class(a.get("kind", "")) or "", ("#ffffff", "#9e9e9e"))
        label = render.node_label(a, n)
        parts.append(f'<g><title>{html.escape(str(n))}: {html.escape(label)}</title>'
                     f'<rect x="{x}" y="{yy}" width="{right - x}" height="{row_h - 6}" rx="4" fill="{fill}" '
                     f'stroke="{stroke}"/><text x="{x + 6}" y="{yy + 14}" font-size="11" '
                     f'font-family="monospace">{html.escape(label[:60])}</text></g>')
    width = right + 20
    for i, (u, v, d, _, _) in enumerate(render._drawn_edges(G)):
        if u not in rows or v not in rows:
            continue
        y0, y1 = rows[u][0] + (row_h - 6) / 2, rows[v][0] + (row_h - 6) / 2
        bulge = right + 12 + min(abs(y1 - y0) / 3, 300)
        width = max(width, bulge + 10)
        dash = ' stroke-dasharray="5 3"' if d.get("kind") == "version" else ""
        label = html.escape(render._edge_label(G, u, v, d))
        parts.append(f'<path d="M{right},{y0} C{bulge},{y0} {bulge},{y1} {right},{y1}" fill="none" '
                     f'stroke="#78909c" stroke-width="1"{dash} marker-end="url(#arrow)"><title>{label}</title></path>')
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{int(width)}" height="{y + 10}" '
            f'viewBox="0 0 {int(width)} {y + 10}" role="img"><defs><marker id="arrow" viewBox="0 0 8 8" refX="8" '
            f'refY="4" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#78909c"/>'
            f'</marker></defs>')
    return head + "".join(parts) + "</svg>"
