"""The figures of ``collab report``, drawn with matplotlib (Agg: no display, no network). Each
function returns a PNG's bytes; matplotlib is imported here only, when a report is made."""
from __future__ import annotations

import io
import math


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _ok(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _grid(n: int, w: float = 5.2, h: float = 3.6):
    plt = _plt()
    cols = min(n, 3)
    fig, axes = plt.subplots((n + cols - 1) // cols, cols, figsize=(w * cols, h * ((n + cols - 1) // cols)),
                             squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def lines(panels: list[dict], xlabel: str, integer_x: bool = False) -> bytes:
    """One panel per {title, ylabel, series: {name: [(x, y, err|None), ...]}}: a line per
    series, error bars where ``err`` is given (a (low, high) pair around y)."""
    fig, axes = _grid(len(panels))
    for ax, p in zip(axes, panels):
        for name, pts in p["series"].items():
            pts = sorted((x, y, e) for x, y, e in pts if _ok(x) and _ok(y))
            if not pts:
                continue
            xs, ys = [x for x, _, _ in pts], [y for _, y, _ in pts]
            if any(e is not None for _, _, e in pts):
                lo = [y - e[0] if e else 0 for _, y, e in pts]
                hi = [e[1] - y if e else 0 for _, y, e in pts]
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
            else:
                ax.plot(xs, ys, marker="o", label=name)
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(p["ylabel"])
        if integer_x:
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def scatter(panels: list[dict]) -> bytes:
    """One panel per {title, xlabel, ylabel, series: {name: [(x, y, yerr|None, text), ...]}}:
    the points of a series joined in the given order, each annotated with its text."""
    fig, axes = _grid(len(panels))
    for ax, p in zip(axes, panels):
        labels: dict = {}  # (x, y) -> {series: [texts]}
        for name, pts in p["series"].items():
            pts = [pt for pt in pts if _ok(pt[0]) and _ok(pt[1])]
            if not pts:
                continue
            xs, ys = [pt[0] for pt in pts], [pt[1] for pt in pts]
            if any(pt[2] is not None for pt in pts):
                lo = [pt[1] - pt[2][0] if pt[2] else 0 for pt in pts]
                hi = [pt[2][1] - pt[1] if pt[2] else 0 for pt in pts]
                ax.errorbar(xs, ys, yerr=[lo, hi], marker="o", capsize=3, label=name)
            else:
                ax.plot(xs, ys, marker="o", linestyle="-" if p.get("join", True) and len(pts) > 1 else "none",
                        label=name)
            for x, y, _, text in pts:
                if text:
                    labels.setdefault((x, y), {}).setdefault(name, []).append(text)
        # points where several settings (of one or more series) land share one label, a line
        # per series, instead of texts printed over each other
        for i, ((x, y), by_series) in enumerate(sorted(labels.items(), key=lambda kv: kv[0])):
            lines = []
            for name, texts in by_series.items():
                text = texts[0] if len(texts) == 1 else (
                    f"{len(texts)} settings" if len(texts) > 2 else " and ".join(texts))
                lines.append(f"{name}: {text}" if len(by_series) > 1 else text)
            # neighbours alternate above and below the line, so long labels do not run into each other
            ax.annotate("\n".join(lines), (x, y), fontsize=7, xytext=(3, 4 if i % 2 == 0 else -10 * len(lines) - 4),
                        textcoords="offset points")
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel(p["xlabel"])
        ax.set_ylabel(p["ylabel"])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def losses(curves: list[dict]) -> bytes:
    """One panel per training {title, series: {name: [(step, loss), ...]}}."""
    fig, axes = _grid(len(curves))
    for ax, c in zip(axes, curves):
        for name, pts in c["series"].items():
            pts = [(s, v) for s, v in pts if _ok(s) and _ok(v)]
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], marker="." if len(pts) < 50 else None,
                        linestyle="-" if name == "loss" else "--", label=name)
        ax.set_title(c["title"], fontsize=10)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("training loss")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return _png(fig)


def bars(names: list[str], series: dict[str, list[float]], title: str) -> bytes:
    """Horizontal bars per name, one panel per series (seconds, calls, tokens, cost)."""
    plt = _plt()
    series = {k: v for k, v in series.items() if any(v)} or series  # an all-zero panel says nothing
    n = len(series)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 0.3 * len(names) + 1.4), squeeze=False, sharey=True)
    for ax, (what, values) in zip(axes.flat, series.items()):
        ax.barh(range(len(names)), values, color="#5c8fc4")
        ax.set_title(what, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    axes.flat[0].set_yticks(range(len(names)), [x[:40] for x in names], fontsize=8)
    axes.flat[0].invert_yaxis()
    fig.suptitle(title, fontsize=10)
    return _png(fig)
