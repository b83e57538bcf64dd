"""The end-of-run summary beside the result table: time, calls, tokens, cost and cache
hits per node, totals, knowledge-base sizes and retrieval rates, trainings with the examples
each task kept and dropped, and the run's warnings. ``collab show`` prints the same lines
from the run store."""
from __future__ import annotations


def node_rows(stats: dict) -> tuple[list[str], list[list[str]]]:
    cols = ["node", "kind", "label", "seconds", "calls", "cache hits", "tokens in/out", "cost",
            "retries", "parse fails", "peak MB"]
    rows = [[key, s.kind, s.label[:40], f"{s.seconds:.2f}", str(s.calls),
             str(s.cache_hits) + (" (reused)" if s.reused else ""), f"{s.prompt_tokens}/{s.completion_tokens}",
             f"{s.cost:.4f}", str(s.retries), str(s.parse_failures),
             f"{s.peak_mb:,.0f}" if getattr(s, "peak_mb", None) else ""] for key, s in stats.items()]
    return cols, rows


def describe_task(t: dict) -> str:
    """``explain: 12 of 16 rows (4 target none)``: one task of a training's report."""
    n = t["kept"] + sum(t["dropped"].values())
    why = ", ".join(f"{c} {r}" for r, c in t["dropped"].items())
    return f"{t['task']}: {t['kept']} of {n} rows" + (f" ({why})" if why else "") + \
        (f", weight {t['weight']:g}: not trained" if t["weight"] <= 0 else "")


def training_line(t: dict) -> str:
    """A training of the run: its model, objective, examples, steps and loss, and what each
    task kept and dropped."""
    line = f"{t['model']} {t['objective']}: {t['examples']} examples"
    line += f", {t['steps']} steps, loss {t['train_loss']:.4f}" if t.get("steps") is not None else \
        f" ({t.get('skipped') or ('failed' if t.get('failed') else 'not trained')})"
    if t.get("precision") not in (None, "float32"):  # fp32, what a CPU always trained in, goes unsaid
        line += f", {t['precision']} autocast"
    world = int(t.get("world_size") or 1)
    if t.get("launcher") not in (None, "none"):  # how the version was trained: launcher, world size
        line += f", {t['launcher']} launch: {world} process{'es' if world != 1 else ''}" + \
            (f" ({t['distributed']})" if t.get("distributed") not in (None, "NO") else "")
    if t.get("micro_batch") and t.get("batch_size") and t["micro_batch"] < t["batch_size"] // world:
        line += f" (batches of {t['batch_size']} in passes of {t['micro_batch']}: activations by memory)"
    elif t.get("passes") and t.get("batches") and t["passes"] > t["batches"]:
        line += f" ({t['passes']} passes: each step's sequences grouped by length"
        if t.get("padded_tokens") and t.get("tokens"):
            line += f", {t['tokens'] / t['padded_tokens']:.0%} of the computed tokens real"
        line += ")"
    tasks = t.get("tasks") or []
    if len(tasks) > 1 or any(x["dropped"] or x["weight"] <= 0 for x in tasks):
        line += "; " + "; ".join(describe_task(x) for x in tasks)
    return line


def warning_line(w: dict) -> str:
    """``warning: prog.collab:7:18: in compute 'x.t = ...': message``."""
    return f"{w.get('level') or 'warning'}: {w.get('where') or w.get('location') or '?'}: in {w.get('kind')} " \
           f"'{w.get('label')}': {w.get('message')}"


def totals_lines(outcome) -> list[str]:
    st = outcome.stats.values()
    calls = sum(s.calls for s in st)
    hits = sum(s.cache_hits for s in st)
    tin = sum(s.prompt_tokens for s in st)
    tout = sum(s.completion_tokens for s in st)
    cost = sum(s.cost for s in st)
    retries = sum(s.retries for s in st)
    fails = sum(s.parse_failures for s in st)
    loads = sum(a.get("loads", 0) for a in outcome.agents.values())
    dtypes = sorted({a["dtype"] for a in outcome.agents.values() if a.get("dtype")})
    lines = [f"knowledge base {kb}: {n} entries written" for kb, n in outcome.kb_sizes.items()]
    lines += [f"retrieval {col}: {n} of {total} rows retrieved ({n / max(total, 1):.1%})"
              for col, (n, total) in outcome.retrievals.items()]
    lines += [training_line(t) for t in getattr(outcome, "trainings", [])]
    lines += [f"{key.rsplit('*', 1)[0]}: {a['replicas']} Ray replicas, "
              f"{a.get('calls', 0)} calls in {a.get('batches', 0)} batches"
              for key, a in outcome.agents.items() if int(a.get("replicas", 1) or 1) > 1]
    lines.append(f"model calls {calls}, cache hits {hits}, tokens {tin} in / {tout} out, cost ${cost:.4f}, "
                 f"retries {retries}, parse failures {fails}, models loaded {loads}"
                 + (f" ({', '.join(dtypes)})" if dtypes else ""))
    return lines
