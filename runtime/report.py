"""The end-of-run summary beside the result table: time, calls, tokens, cost and cache
hits per node, totals, knowledge-base sizes and retrieval rates."""
from __future__ import annotations


def node_rows(stats: dict) -> tuple[list[str], list[list[str]]]:
    cols = ["node", "kind", "label", "seconds", "calls", "cache hits", "tokens in/out", "cost",
            "retries", "parse fails"]
    rows = [[key, s.kind, s.label[:40], f"{s.seconds:.2f}", str(s.calls),
             str(s.cache_hits) + (" (reused)" if s.reused else ""), f"{s.prompt_tokens}/{s.completion_tokens}",
             f"{s.cost:.4f}", str(s.retries), str(s.parse_failures)] for key, s in stats.items()]
    return cols, rows


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
    lines = [f"knowledge base {kb}: {n} entries written" for kb, n in outcome.kb_sizes.items()]
    lines += [f"retrieval {col}: {n} of {total} rows retrieved ({n / max(total, 1):.1%})"
              for col, (n, total) in outcome.retrievals.items()]
    lines += [f"{t['model']} {t['objective']}: {t['examples']} examples"
              + (f", {t['steps']} steps, loss {t['train_loss']:.4f}" if "steps" in t else f" ({t.get('skipped')})")
              for t in getattr(outcome, "trainings", [])]
    lines.append(f"model calls {calls}, cache hits {hits}, tokens {tin} in / {tout} out, cost ${cost:.4f}, "
                 f"retries {retries}, parse failures {fails}, models loaded {loads}")
    return lines
