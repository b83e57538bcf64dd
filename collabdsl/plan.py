"""``collab plan``: what a program would do, before running it.

:func:`plan` walks the IR (``collabdsl.ir``) in run order and estimates, per node:

* **rows** of the data set it works on. Known from ``limit:`` / ``take`` / ``split`` ratios, or
  counted by ``runtime.data.count_rows`` for ``builtin:`` and local-file sources when that
  module can be imported without heavy libraries (it is checked statically first; ``hf:``
  sources are never counted, that could download). Otherwise :data:`DEFAULT_ROWS` is assumed.
  ``filter`` keeps at most all rows; ``expand`` makes ``max:`` rows per row (``items(.., max:)``)
  or :data:`DEFAULT_EXPAND` when there is no bound. A gated node (``when``) runs on at most
  all rows.
* **calls** of model operations: rows x ``k`` (``sample``) x loop iterations (``repeat N``, or
  the ``max`` of ``repeat until``). ``column`` models make no calls.
* **tokens**: prompt = prompt text / :data:`CHARS_PER_TOKEN` (template text plus
  :data:`DEFAULT_SLOT_CHARS` per filled slot or column read); completion = ``max_tokens``
  (node option, then model option, then :data:`DEFAULT_MAX_TOKENS`); ``choose`` adds
  :data:`CHOOSE_OPTION_CHARS` of options to the prompt and completes 1 token.
* **cost** (USD) for ``api`` and ``server`` models, from litellm's price table read offline
  as JSON from the installed package (litellm itself is never imported); ``n/a`` when the
  price is unknown or litellm is not installed. Local backends cost 0.
* **training**: examples (rows; x number of tasks for ``multitask``) and optimizer steps
  ``ceil(rows * epochs / (batch_size * grad_accum))`` or ``max_steps``, with the trainer's
  defaults (:data:`TRAIN_DEFAULTS`): a batch holds ``batch_size`` rows with all their tasks.

Every number that rests on an assumption is marked as an estimate (``~`` in the table).
Model bindings are shown as ``backend:ref`` only; keys, passwords and URL credentials never
appear.

**access**: every file and folder the run reads (real paths, and which allowed folder holds
each: the program's folder, the current directory or an ``--allow-read``), every host it
contacts (servers, API providers, the Hugging Face hub) and the key sent there (the name of
the environment variable, never its value), from ``G.graph["access"]``
(:func:`collabdsl.access.check_graph`).
"""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from collabdsl import ast as A

DEFAULT_ROWS = 1000
"""Rows assumed for a data set whose size cannot be known before the run."""
DEFAULT_EXPAND = 3
"""New rows per row assumed for an ``expand`` without a ``max:`` bound."""
CHARS_PER_TOKEN = 4
DEFAULT_SLOT_CHARS = 128
"""Characters assumed for each value filled into a prompt (a slot, a column)."""
DEFAULT_MAX_TOKENS = 128
"""Completion tokens when neither the call nor the model sets ``max_tokens`` (the runtime default)."""
CHOOSE_OPTION_CHARS = 4 * 32
"""Option text scored by ``choose`` (about 4 options of 32 characters)."""
TRAIN_DEFAULTS = {"epochs": 1.0, "batch_size": 4, "grad_accum": 1}
"""The trainer's defaults (``runtime.trainer.train``)."""

DATA_KINDS = ("load", "split", "concat", "take", "shuffle", "fewshot", "filter", "expand")
MODEL_KINDS = ("generate", "sample", "score", "choose")
PRICED_BACKENDS = ("api", "server")
FREE_BACKENDS = ("embedded", "hf", "gguf", "vllm", "column")
HEAVY_MODULES = ("torch", "transformers", "trl", "vllm", "litellm", "datasets", "peft", "accelerate",
                 "numpy", "pandas", "pyarrow", "tensorflow", "jax")


# ------------------------------------------------------------------ estimates
@dataclass(frozen=True)
class Est:
    """A count that is exact or an estimate (``~``)."""

    value: float
    exact: bool = True

    def __mul__(self, other: Est | float | int) -> Est:
        if isinstance(other, Est):
            return Est(self.value * other.value, self.exact and other.exact)
        return Est(self.value * other, self.exact)

    def __add__(self, other: Est) -> Est:
        return Est(self.value + other.value, self.exact and other.exact)

    def approx(self) -> Est:
        return Est(self.value, False)

    @property
    def n(self) -> int:
        return math.ceil(self.value - 1e-9) if self.value > 0 else 0

    def __str__(self) -> str:
        return ("" if self.exact else "~") + f"{self.n:,}"


ONE = Est(1)
ZERO = Est(0)


@dataclass
class PlanNode:
    id: str
    kind: str
    label: str
    depth: int = 0
    parent: str | None = None
    data: str | None = None
    model: str | None = None
    backend: str | None = None
    ref: str | None = None
    rows: Est | None = None
    iterations: Est = ONE
    calls: Est | None = None
    prompt_tokens: Est | None = None
    completion_tokens: Est | None = None
    cost: float | None = None  # USD over all calls; None: unknown ("n/a")
    cost_exact: bool = True
    priced: bool = False  # an api/server model (cost is meaningful)
    train_examples: Est | None = None
    train_steps: Est | None = None  # over all iterations
    memory: float | None = None  # bytes the process holds at this step's peak (an estimate; collabdsl.planmem)
    full: bool = False  # a training of all weights (its version is a model of its own)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        approx = []
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "label": self.label, "depth": self.depth,
                               "parent": self.parent, "data": self.data, "model": self.model,
                               "backend": self.backend, "ref": self.ref}
        for name in ("rows", "iterations", "calls", "prompt_tokens", "completion_tokens",
                     "train_examples", "train_steps"):
            v = getattr(self, name)
            out[name] = None if v is None else v.n
            if v is not None and not v.exact:
                approx.append(name)
        if self.priced:
            out["cost_usd"] = None if self.cost is None else round(self.cost, 6)
            if self.cost is not None and not self.cost_exact:
                approx.append("cost_usd")
        else:
            out["cost_usd"] = 0.0 if self.calls is not None else None
        out["memory"] = None if self.memory is None else int(self.memory)  # bytes, an estimate
        if self.memory is not None:
            approx.append("memory")
        out["estimated"] = approx
        out["notes"] = list(self.notes)
        return out


@dataclass
class Plan:
    name: str
    description: str
    path: str
    params: dict
    models: dict  # role -> {"backend": ..., "ref": ...}
    nodes: list[PlanNode]
    totals: dict
    assumptions: dict
    price_source: str | None = None
    access: dict = field(default_factory=dict)  # {allow_read, reads, network}

    def to_dict(self) -> dict:
        return {"program": self.name, "description": self.description, "path": self.path,
                "params": _plain(self.params), "models": self.models,
                "nodes": [n.to_dict() for n in self.nodes], "totals": self.totals,
                "assumptions": self.assumptions, "price_source": self.price_source,
                "access": self.access}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _plain(v):
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


# ------------------------------------------------------------------ model refs, safely
def safe_ref(text: str | None) -> str | None:
    """A model reference with URL credentials and secret query parameters removed."""
    from collabdsl.render import safe_ref as _safe

    return None if text is None else _safe(str(text))


def model_ref(spec: dict | None) -> tuple[str | None, str | None]:
    """``(backend, ref)`` for display: ``("server", "http://h/v1#m")``, ``("api", "openai/gpt-4o")``."""
    if not spec:
        return None, None
    backend = spec.get("backend")
    ref = spec.get("ref")
    kwargs = spec.get("kwargs") or {}
    if backend == "server" and kwargs.get("model"):
        ref = f"{ref}#{kwargs['model']}"
    elif backend == "gguf" and kwargs.get("file"):
        ref = f"{ref}#{kwargs['file']}"
    return backend, safe_ref(None if ref is None else str(ref))


def gpus_needed(spec: dict | None) -> int:
    """GPUs a role's backend takes when the program runs on GPUs: a vLLM engine its tensor x
    pipeline x data parallel sizes (engine arguments, 1 each by default); a transformers model
    1 (0 with ``device "cpu"``); api, server and column models 0 (the server's GPUs are its
    own); times the model option ``replicas`` where given."""
    if not spec:
        return 0
    from collabdsl.vllm_args import gpus

    backend, options = spec.get("backend"), spec.get("options") or {}
    if backend == "vllm":
        n = gpus(spec.get("kwargs") or {})
    elif backend in ("embedded", "hf", "gguf"):
        n = 0 if str(options.get("device") or "").startswith("cpu") else 1
    else:
        return 0
    replicas = options.get("replicas", 1)
    if isinstance(replicas, (int, float)) and not isinstance(replicas, bool) and replicas >= 1:
        n *= int(replicas)
    return n


# ------------------------------------------------------------------ prices (offline)
@lru_cache(maxsize=1)
def _price_table() -> tuple[dict | None, str | None]:
    """litellm's price table as JSON data, without importing litellm."""
    try:
        spec = importlib.util.find_spec("litellm")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None, None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "model_prices_and_context_window_backup.json"
        if p.is_file():
            try:
                return json.loads(p.read_text(encoding="utf-8")), str(p)
            except (OSError, ValueError):
                return None, None
    return None, None


def price_of(model: str | None) -> tuple[float, float] | None:
    """(input, output) USD per token for a litellm model string, or None when unknown."""
    if not model:
        return None
    table, _ = _price_table()
    if not table:
        return None
    provider, _, bare = model.partition("/")
    candidates = [model]
    if bare:
        candidates.append(bare)
    for key in candidates:
        entry = table.get(key)
        if not isinstance(entry, dict) or key == "sample_spec":
            continue
        if key == bare and entry.get("litellm_provider") not in (None, provider) and \
                not str(entry.get("litellm_provider", "")).startswith(provider):
            continue
        inp, outp = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if isinstance(inp, (int, float)) and isinstance(outp, (int, float)):
            return float(inp), float(outp)
    return None


def litellm_available() -> bool:
    return _price_table()[0] is not None


# ------------------------------------------------------------------ row counts (optional)
def _module_file(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


def _light_module(name: str, seen: set | None = None) -> bool:
    """True when ``name`` (and the ``runtime`` modules it imports at top level) import no
    heavy library at module level. Checked on the source, without importing it."""
    import ast as pyast

    seen = set() if seen is None else seen
    if name in seen:
        return True
    seen.add(name)
    path = _module_file(name)
    if path is None:
        return False
    try:
        tree = pyast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return False

    def top_level(body):
        for st in body:
            if isinstance(st, (pyast.Import, pyast.ImportFrom)):
                yield st
            elif isinstance(st, (pyast.If, pyast.Try)):
                for sub in (getattr(st, "body", []), getattr(st, "orelse", []),
                            getattr(st, "finalbody", []),
                            *[h.body for h in getattr(st, "handlers", [])]):
                    yield from top_level(sub)

    for st in top_level(tree.body):
        if isinstance(st, pyast.ImportFrom):
            if st.level:
                mods = [f"runtime.{st.module}" if st.module else "runtime"]
            else:
                mods = [st.module or ""]
        else:
            mods = [a.name for a in st.names]
        for m in mods:
            root = m.split(".")[0]
            if root in HEAVY_MODULES:
                return False
            if root == "runtime" and m != "runtime" and not _light_module(m, seen):
                return False
    return True


@lru_cache(maxsize=1)
def _count_rows_fn():
    if "runtime.data" not in sys.modules and not _light_module("runtime.data"):
        return None
    try:
        from runtime.data import count_rows  # type: ignore[import-not-found]
    except Exception:
        return None
    return count_rows


def _countable(source: str, base: Path | None) -> bool:
    if source.startswith("builtin:"):
        return True
    if ":" in source.split("/")[0]:  # hf:ID and other remote schemes: never counted
        return False
    p = Path(source)
    if not p.is_absolute() and base is not None:
        p = base / p
    return p.is_file()


def count_rows(options: dict, base: Path | None = None, policy=None) -> int | None:
    """Rows of a ``load`` source, counted by ``runtime.data.count_rows`` when that is cheap
    (reading only what ``policy`` allows)."""
    source = options.get("source")
    if not isinstance(source, str) or not _countable(source, base):
        return None
    fn = _count_rows_fn()
    if fn is None:
        return None
    import inspect

    kwargs = {k: options[k] for k in ("split", "format", "columns", "base_dir") if k in options}
    if base is not None:
        kwargs.setdefault("base_dir", str(base))
    if policy is not None:
        kwargs["policy"] = policy
    try:
        sig = inspect.signature(fn)
        accepts_any = any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values())
        kwargs = {k: v for k, v in kwargs.items() if accepts_any or k in sig.parameters}
        n = fn(source, **kwargs)
    except Exception:
        return None
    return int(n) if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else None


# ------------------------------------------------------------------ helpers on the IR
def _num(v, params: dict) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, A.Num):
        return float(v.value)
    if isinstance(v, A.Name) and isinstance(params.get(str(v.id)), (int, float)):
        return float(params[str(v.id)])
    if isinstance(v, str) and isinstance(params.get(v), (int, float)) and not isinstance(params.get(v), bool):
        return float(params[v])
    return None


def _outs(attrs: dict) -> list[str]:
    out = attrs.get("out")
    if out is None:
        return []
    return [str(o) for o in out] if isinstance(out, (list, tuple)) else [str(out)]


def _prompt_chars(e, prompts: dict) -> float:
    """Characters of a prompt expression: literal text counts as is, every value read from a
    row counts :data:`DEFAULT_SLOT_CHARS`."""
    if e is None:
        return 0
    if isinstance(e, A.Str):
        return len(e.value)
    if isinstance(e, (A.Num, A.Bool, A.NoneLit)):
        return 4
    if isinstance(e, A.BinOp) and e.op == "+":
        return _prompt_chars(e.left, prompts) + _prompt_chars(e.right, prompts)
    if isinstance(e, A.Call) and e.fname in prompts:
        p = prompts[e.fname]
        template = str(p.get("template", ""))
        slots = p.get("slots") or []
        text = template
        for s in slots:
            text = text.replace("{" + str(s) + "}", "")
        return len(text) + sum(_prompt_chars(a, prompts) for a in e.args)
    if isinstance(e, A.Call) and e.fname in ("format", "join"):
        return sum(_prompt_chars(a, prompts) for a in e.args) or DEFAULT_SLOT_CHARS
    return DEFAULT_SLOT_CHARS


def _expand_factor(items, params: dict) -> Est:
    if isinstance(items, A.Call):
        mx = items.kwarg("max")
        if mx is not None:
            v = _num(mx, params)
            if v is not None:
                return Est(v, False)
    return Est(DEFAULT_EXPAND, False)


# ------------------------------------------------------------------ the plan
def plan(G) -> Plan:
    """Estimate what running the program behind IR graph ``G`` would cost."""
    from collabdsl.render import node_label, node_order, redact  # same order and labels as drawings

    params = dict(G.graph.get("params") or {})
    models = dict(G.graph.get("models") or {})
    prompts = dict(G.graph.get("prompts") or {})
    base = Path(G.graph["path"]).resolve().parent if G.graph.get("path") else None
    from collabdsl.access import ReadPolicy

    access = dict(G.graph.get("access") or {})
    policy = ReadPolicy.for_program(G.graph.get("path"), access.get("allow_read", ()))
    order = node_order(G)
    sizes: dict[str, Est] = {}
    nodes: list[PlanNode] = []
    used_default_rows = False

    def rows_of(name) -> Est:
        nonlocal used_default_rows
        if name is None:
            return Est(DEFAULT_ROWS, False)
        if name not in sizes:
            used_default_rows = True
            sizes[name] = Est(DEFAULT_ROWS, False)
        return sizes[name]

    def loops_of(n) -> list:
        chain, p = [], G.nodes[n].get("parent")
        while p is not None and p in G:
            chain.append(p)
            p = G.nodes[p].get("parent")
        return chain[::-1]

    def iterations(n) -> Est:
        it = ONE
        for loop in loops_of(n):
            opts = G.nodes[loop].get("options") or {}
            count = _num(opts.get("count"), params)
            if count is not None:
                it = it * Est(max(count, 0))
            else:
                mx = _num(opts.get("max"), params)
                it = it * (Est(mx, False) if mx is not None else Est(1, False))
        return it

    for n in order:
        a = G.nodes[n]
        kind = str(a.get("kind"))
        pn = PlanNode(id=str(n), kind=kind, label=node_label(a, n),
                      depth=len(loops_of(n)), parent=a.get("parent"), data=a.get("data"))
        pn.iterations = iterations(n)
        opts = a.get("options") or {}
        outs = _outs(a)
        if kind == "loop":
            count = _num(opts.get("count"), params)
            mx = _num(opts.get("max"), params)
            pn.rows = None
            pn.iterations = pn.iterations * (Est(count) if count is not None else
                                             Est(mx if mx is not None else 1, False))
            if count is None:
                pn.notes.append("repeat until: at most max iterations")
        elif kind == "load":
            limit = _num(opts.get("limit"), params)
            counted = count_rows(opts, base, policy)
            if counted is not None and limit is not None:
                est = Est(min(counted, limit))
            elif counted is not None:
                est = Est(counted)
            elif limit is not None:
                est = Est(limit)
            else:
                est = Est(DEFAULT_ROWS, False)
                used_default_rows = True
                pn.notes.append(f"size unknown before the run: {DEFAULT_ROWS} rows assumed")
            pn.rows = est
            for o in outs:
                sizes[o] = est
        elif kind == "split":
            src = rows_of(a.get("data"))
            ratio = _num(opts.get("ratio"), params)
            if ratio is None:
                ratio = 0.5
            if ratio >= 1:  # a count
                first = Est(min(ratio, src.value), src.exact)
            else:
                first = Est(round(src.value * ratio), src.exact)
            pn.rows = src
            if outs:
                sizes[outs[0]] = first
            if len(outs) > 1:
                sizes[outs[1]] = Est(max(src.value - first.value, 0), src.exact)
        elif kind == "take":
            src = rows_of(a.get("data"))
            k = _num(opts.get("n"), params)
            est = Est(min(k, src.value), src.exact) if k is not None else src.approx()
            pn.rows = est
            for o in outs:
                sizes[o] = est
        elif kind == "concat":
            inputs = _concat_inputs(G, n, a, sizes)
            est = ZERO
            for i in inputs:
                est = est + rows_of(i)
            if not inputs:
                est = rows_of(a.get("data"))
            pn.rows = est
            for o in outs:
                sizes[o] = est
        elif kind in ("shuffle", "fewshot"):
            est = rows_of(a.get("data"))
            pn.rows = est
            for o in outs:
                sizes[o] = est
        elif kind == "filter":
            est = rows_of(a.get("data")).approx()
            pn.rows = est
            pn.notes.append("filter: at most all rows")
            for o in outs:
                sizes[o] = est
        elif kind == "expand":
            src = rows_of(a.get("data"))
            items = (a.get("expr") or {}).get("items") if isinstance(a.get("expr"), dict) else None
            est = src * _expand_factor(items, params)
            pn.rows = est
            for o in outs:
                sizes[o] = est
        elif kind in MODEL_KINDS:
            _model_node(pn, a, G, rows_of(a.get("data")), models, prompts, params)
            _model_memory(pn, a, models, base, params)
        elif kind == "train":
            _train_node(pn, a, rows_of(a.get("data")), params)
            _train_memory(pn, a, models, prompts, base, params)
            role = a.get("model")
            backend, ref = model_ref(models.get(str(role)) if role else None)
            pn.model, pn.backend, pn.ref = (str(role) if role else None), backend, ref
        else:  # compute gate kb_write retrieve eval
            if a.get("data") is not None:
                pn.rows = rows_of(a.get("data"))
                if a.get("when"):
                    pn.rows = pn.rows.approx()
        nodes.append(pn)

    totals = _totals(nodes)
    from collabdsl import planmem

    totals["memory"] = planmem.program_peak(nodes, models, base)
    table, price_path = _price_table()
    assumptions = {"default_rows": DEFAULT_ROWS, "default_expand": DEFAULT_EXPAND,
                   "chars_per_token": CHARS_PER_TOKEN, "default_slot_chars": DEFAULT_SLOT_CHARS,
                   "default_max_tokens": DEFAULT_MAX_TOKENS, "train_defaults": dict(TRAIN_DEFAULTS),
                   "default_rows_used": used_default_rows,
                   "prices": "litellm price table (offline)" if table else "n/a (litellm not installed)"}
    shown_models = {}
    engines = {}  # one engine per backend reference (roles declared alike share it): its GPUs
    for role in sorted(models):
        backend, ref = model_ref(models[role])
        shown_models[role] = {"backend": backend, "ref": ref, "gpus": gpus_needed(models[role])}
        if models[role].get("derived_from"):
            shown_models[role]["derived_from"] = models[role]["derived_from"]
        else:
            engines[(backend, ref)] = max(engines.get((backend, ref), 0), shown_models[role]["gpus"])
    totals["gpus"] = sum(engines.values())
    return Plan(name=str(G.graph.get("name") or ""), description=str(G.graph.get("description") or ""),
                path=str(G.graph.get("path") or ""), params=redact(params), models=shown_models, nodes=nodes,
                totals=totals, assumptions=assumptions,
                price_source=Path(price_path).name if price_path else None,
                access={"allow_read": list(access.get("allow_read") or []),
                        "reads": list(access.get("reads") or []), "network": list(access.get("network") or [])})


def _concat_inputs(G, n, a, sizes) -> list[str]:
    opts = a.get("options") or {}
    if isinstance(opts.get("inputs"), (list, tuple)):
        return [str(i) for i in opts["inputs"]]
    label = str(a.get("label") or "")
    if label.startswith("concat "):
        names = [s.strip() for s in label[len("concat "):].split(",")]
        if names and all(s in sizes for s in names):
            return names
    labels = sorted({str(d.get("label")) for _, _, d in G.in_edges(n, data=True)
                     if d.get("kind") == "data" and not d.get("twin") and str(d.get("label")) in sizes})
    if a.get("data") is not None and str(a["data"]) not in labels:
        labels.insert(0, str(a["data"]))
    return labels


def _model_node(pn: PlanNode, a: dict, G, rows: Est, models: dict, prompts: dict, params: dict) -> None:
    role = str(a.get("model")) if a.get("model") is not None else None
    spec = models.get(role) if role else None
    backend, ref = model_ref(spec)
    pn.model, pn.backend, pn.ref = role, backend, ref
    opts = a.get("options") or {}
    if a.get("when"):
        rows = rows.approx()
        pn.notes.append("gated: at most all rows")
    pn.rows = rows
    k = _num(opts.get("k"), params) if pn.kind == "sample" else 1
    k = 1 if k is None else k
    if backend == "column":
        pn.calls = ZERO
        pn.prompt_tokens = ZERO
        pn.completion_tokens = ZERO
        pn.notes.append("stored column: no model calls")
        return
    calls = rows * k * pn.iterations
    pn.calls = calls
    expr = a.get("expr") if isinstance(a.get("expr"), dict) else {}
    chars = _prompt_chars(expr.get("prompt"), prompts)
    if pn.kind == "choose":
        chars += CHOOSE_OPTION_CHARS
        completion = 1.0
    else:
        mt = _num(opts.get("max_tokens"), params)
        if mt is None and spec:
            mt = _num((spec.get("options") or {}).get("max_tokens"), params)
        completion = mt if mt is not None else float(DEFAULT_MAX_TOKENS)
    per_prompt = math.ceil(chars / CHARS_PER_TOKEN)
    pn.prompt_tokens = (calls * per_prompt).approx()
    pn.completion_tokens = (calls * completion).approx()  # max_tokens is an upper bound
    if backend in PRICED_BACKENDS:
        pn.priced = True
        model_name = ref if backend == "api" else ((spec or {}).get("kwargs") or {}).get("model")
        price = price_of(str(model_name) if model_name else None)
        if price is None:
            pn.cost = None
            pn.notes.append("price unknown" if litellm_available() else "litellm not installed: no prices")
        else:
            pn.cost = pn.prompt_tokens.value * price[0] + pn.completion_tokens.value * price[1]
            pn.cost_exact = False
    else:
        pn.cost = 0.0


def _train_node(pn: PlanNode, a: dict, rows: Est, params: dict) -> None:
    opts = a.get("options") or {}
    expr = a.get("expr") if isinstance(a.get("expr"), dict) else {}
    entries = expr.get("entries") or {}
    pn.rows = rows
    examples = rows
    if opts.get("objective") == "multitask":
        tasks = entries.get("tasks")
        if isinstance(tasks, A.ListLit):
            examples = rows * max(len(tasks.items), 1)
        else:
            examples = examples.approx()
    pn.train_examples = examples
    max_steps = _num(opts.get("max_steps"), params)
    if max_steps is not None and max_steps > 0:
        steps = Est(max_steps)
    else:
        epochs = _num(opts.get("epochs"), params) or TRAIN_DEFAULTS["epochs"]
        bs = _num(opts.get("batch_size"), params) or TRAIN_DEFAULTS["batch_size"]
        ga = _num(opts.get("grad_accum"), params) or TRAIN_DEFAULTS["grad_accum"]
        # batch_size counts rows: a multitask (or kd) batch holds every task of its rows
        steps = Est(math.ceil(rows.value * epochs / (bs * ga)), rows.exact)
    pn.train_steps = steps * pn.iterations
    if pn.iterations.value != 1 or not pn.iterations.exact:
        pn.notes.append(f"trained once per iteration ({pn.iterations})")


def _model_memory(pn: PlanNode, a: dict, models: dict, base: Path | None, params: dict) -> None:
    """The peak of a local model node: the runtime, the weights and one batch of its rows."""
    from collabdsl import planmem

    spec = models.get(str(a.get("model")))
    config = planmem.model_config(spec, base)
    if config is None or not pn.calls or not pn.calls.value:
        return
    per_iter = max(pn.calls.value / max(pn.iterations.value, 1), 1)
    calls = max(pn.calls.value, 1)
    pn.memory = planmem.generation(spec, config, rows=per_iter, prompt_tokens=pn.prompt_tokens.value / calls,
                                   completion=pn.completion_tokens.value / calls)


def _train_memory(pn: PlanNode, a: dict, models: dict, prompts: dict, base: Path | None, params: dict) -> None:
    """The peak of a training: the runtime, the weights with (all trained) their gradients
    and optimizer state, and one pass of a batch's activations."""
    from collabdsl import planmem

    spec = models.get(str(a.get("model")))
    config = planmem.model_config(spec, base)
    if config is None:
        return
    opts = a.get("options") or {}
    entries = (a.get("expr") or {}).get("entries") or {} if isinstance(a.get("expr"), dict) else {}
    objective = str(opts.get("objective") or "sft")
    full = bool(opts["full"]) if opts.get("full") is not None else spec.get("lora") is None
    lora = dict(spec.get("lora") or {})
    dropout = _num(opts.get("lora_dropout"), params)
    if dropout is None:
        dropout = float(lora.get("dropout", 0.05))
    tasks = entries.get("tasks")
    seqs = len(tasks.items) if isinstance(tasks, A.ListLit) else planmem.SEQS_PER_INPUT.get(objective, 1)
    chars = sum(_prompt_chars(e, prompts) for k, e in entries.items() if k != "tasks")
    max_length = _num(opts.get("max_length"), params) or 512
    length = int(min(max_length, math.ceil(chars / CHARS_PER_TOKEN) + planmem.CHAT_TOKENS))
    batch = int(_num(opts.get("batch_size"), params) or TRAIN_DEFAULTS["batch_size"])
    pn.full = full
    pn.memory = planmem.training(spec, config, objective=objective, full=full, lora_dropout=dropout,
                                 batch_size=batch, seqs_per_input=seqs, length=length)


def _sum(values) -> Est:
    total = ZERO
    for v in values:
        if v is not None:
            total = total + v
    return total


def _totals(nodes: list[PlanNode]) -> dict:
    model_nodes = [n for n in nodes if n.kind in MODEL_KINDS]
    train_nodes = [n for n in nodes if n.kind == "train"]
    calls = _sum(n.calls for n in model_nodes)
    pt = _sum(n.prompt_tokens for n in model_nodes)
    ct = _sum(n.completion_tokens for n in model_nodes)
    priced = [n for n in model_nodes if n.priced]
    known = [n.cost for n in priced if n.cost is not None]
    unknown = [n.id for n in priced if n.cost is None]
    steps = _sum(n.train_steps for n in train_nodes)
    examples = _sum(n.train_examples * n.iterations for n in train_nodes if n.train_examples)
    by_model: dict[str, dict] = {}
    for n in model_nodes:
        m = by_model.setdefault(n.model or "?", {"calls": ZERO, "prompt_tokens": ZERO,
                                                  "completion_tokens": ZERO, "cost": 0.0, "priced": False,
                                                  "unknown": False})
        m["calls"] = m["calls"] + (n.calls or ZERO)
        m["prompt_tokens"] = m["prompt_tokens"] + (n.prompt_tokens or ZERO)
        m["completion_tokens"] = m["completion_tokens"] + (n.completion_tokens or ZERO)
        if n.priced:
            m["priced"] = True
            if n.cost is None:
                m["unknown"] = True
            else:
                m["cost"] += n.cost

    def est(e: Est) -> dict:
        return {"value": e.n, "estimated": not e.exact}

    return {
        "calls": est(calls), "prompt_tokens": est(pt), "completion_tokens": est(ct),
        "cost_usd": round(sum(known), 6) if (known or not unknown) else None,
        "cost_unknown_nodes": unknown,
        "train_examples": est(examples), "train_steps": est(steps),
        "by_model": {role: {"calls": est(m["calls"]), "prompt_tokens": est(m["prompt_tokens"]),
                            "completion_tokens": est(m["completion_tokens"]),
                            "cost_usd": (None if m["unknown"] and not m["cost"] else round(m["cost"], 6))
                            if m["priced"] else 0.0,
                            "cost_incomplete": m["unknown"]}
                     for role, m in sorted(by_model.items())},
    }


# ------------------------------------------------------------------ text rendering (rich)
def _cost_text(pn: PlanNode) -> str:
    if pn.kind not in MODEL_KINDS:
        return ""
    if not pn.priced:
        return "-"
    if pn.cost is None:
        return "n/a"
    return ("" if pn.cost_exact else "~") + _usd(pn.cost)


def _usd(v: float) -> str:
    if v == 0:
        return "$0"
    if v < 0.01:
        return f"${v:.4f}"
    return f"${v:,.2f}"


def _e(v: Est | None) -> str:
    return "" if v is None else str(v)


def _te(d: dict) -> str:
    return ("~" if d["estimated"] else "") + f"{d['value']:,}"


def render_text(p: Plan, width: int | None = None, color: bool | None = None, all_nodes: bool = False) -> str:
    """The plan as a rich table (plain text unless ``color``). ``compute`` nodes (pure row
    expressions: no model, no cost) are left out of the table unless ``all_nodes``."""
    import io

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width or 200, force_terminal=bool(color), no_color=not color,
                      highlight=False, soft_wrap=False)
    title = p.name + (f" — {p.description}" if p.description else "")
    console.print(f"[bold]plan[/bold] {escape(title)}")
    if p.params:
        console.print("params: " + ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}"
                                             for k, v in p.params.items()), markup=False)
    for role, m in p.models.items():
        extra = f" (trained from {m['derived_from']})" if m.get("derived_from") else ""
        gpus = m.get("gpus")
        extra += f", {gpus} GPU{'s' if gpus != 1 else ''} on a GPU machine" if gpus is not None else ""
        console.print(f"model {role}: {m['backend']}:{m['ref']}{extra}", markup=False)
    t = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col, just in (("id", "right"), ("node", "left"), ("kind", "left"), ("model", "left"),
                      ("rows", "right"), ("iter", "right"), ("calls", "right"), ("prompt tok", "right"),
                      ("compl tok", "right"), ("cost", "right"), ("memory", "right"), ("train", "left")):
        if col == "node":
            t.add_column(col, justify=just, no_wrap=True, overflow="ellipsis", max_width=48)
        else:
            t.add_column(col, justify=just, no_wrap=True, overflow="fold")
    hidden = 0
    for n in p.nodes:
        if n.kind == "compute" and not all_nodes:
            hidden += 1
            continue
        indent = "  " * n.depth
        train = ""
        if n.kind == "train":
            per = "" if (n.iterations.exact and n.iterations.value == 1) else "/iter"
            train = f"{n.train_examples} ex{per}, {n.train_steps} steps"
        it = "" if (n.iterations.exact and n.iterations.value == 1) else str(n.iterations)
        t.add_row(*(Text(c) for c in (n.id, indent + n.label, n.kind, n.model or "", _e(n.rows), it,
                                       _e(n.calls), _e(n.prompt_tokens), _e(n.completion_tokens),
                                       _cost_text(n), _memory_text(n.memory), train)))
    console.print(t)
    tot = p.totals
    cost = tot["cost_usd"]
    cost_text = "n/a" if cost is None else "~" + _usd(cost) if cost else "$0"
    if tot["cost_unknown_nodes"] and cost is not None:
        cost_text += f" + n/a for {len(tot['cost_unknown_nodes'])} node(s) with unknown price"
    console.print(f"[bold]total[/bold]: {_te(tot['calls'])} model calls, {_te(tot['prompt_tokens'])} prompt + "
                  f"{_te(tot['completion_tokens'])} completion tokens, API cost {cost_text}; "
                  f"training {_te(tot['train_examples'])} examples, {_te(tot['train_steps'])} steps")
    if tot.get("gpus"):
        console.print(f"[bold]gpus[/bold]: {tot['gpus']} when every model is loaded at once on a GPU machine "
                      "(vLLM: tensor x pipeline x data parallel size; transformers: 1; api, server: 0; "
                      "times replicas)")
    peak = tot.get("memory")
    if peak:
        console.print(f"[bold]memory[/bold]: peak ~{peak['bytes'] / 2**30:.1f} GB (the largest step, "
                      f"{peak['largest_step']}, ~{peak['step_bytes'] / 2**30:.1f} GB"
                      + (f", and {peak['other_models']} other local model(s) kept loaded beside it, "
                         f"~{peak['other_bytes'] / 2**30:.1f} GB" if peak["other_models"] else "") + ")")
    for role, m in tot["by_model"].items():
        c = m["cost_usd"]
        ctext = "n/a" if c is None else (("~" + _usd(c)) if c else "$0")
        console.print(f"  {role}: {_te(m['calls'])} calls, {_te(m['prompt_tokens'])} + "
                      f"{_te(m['completion_tokens'])} tokens, {ctext}", markup=False)
    _render_access(console, p.access)
    a = p.assumptions
    notes = [f"~ = estimate: completion tokens count max_tokens (default {a['default_max_tokens']}); "
             f"prompt tokens = chars/{a['chars_per_token']} with {a['default_slot_chars']} chars per filled value"]
    if any(n.memory is not None for n in p.nodes):
        notes.append("memory column: the process at the step's peak (runtime, the step's model and one batch or "
                     "training pass, an upper estimate: the run cuts batches and passes to fit); other loaded "
                     "models add to it; collab show prints what each node took (peak_mb)")
    if a["default_rows_used"]:
        notes.append(f"data sets of unknown size assumed {a['default_rows']} rows (use limit: or take to fix)")
    if not p.price_source:
        notes.append("API prices n/a: litellm is not installed")
    if hidden:
        notes.append(f"{hidden} compute node(s) (pure row expressions) not shown: --all or --format json lists them")
    for note in notes:
        console.print(f"[dim]{note}[/dim]")
    return buf.getvalue()


def _memory_text(v: float | None) -> str:
    return "" if v is None else f"~{v / 2**30:.1f} GB"


def _render_access(console, access: dict) -> None:
    """What the run touches: files read, hosts contacted and the keys sent there."""
    reads, net = access.get("reads") or [], access.get("network") or []
    console.print("[bold]reads[/bold]" + ("" if reads else ": no files"))
    for r in reads:
        console.print(f"  {r['path']}  ({r['what']}; {r.get('allowed_by') or 'NOT allowed'})",
                      markup=False)
    console.print("[bold]network[/bold]" + ("" if net else ": none"))
    for n in net:
        who = f"model {n['role']}" if n.get("role") else "data"
        console.print(f"  {n['to']}  ({who}, {n['for']}; key: {n['key']})", markup=False)
