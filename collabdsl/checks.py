"""Lint rules: each a small function from the program's facts to diagnostics.

Codes: E1xx are errors (the program cannot run as written), W2xx warnings.
``RULES`` lists every rule with its code, so docs and tests can enumerate them.
"""
from __future__ import annotations

import difflib
import math
from typing import Callable

from collabdsl import ast as A
from collabdsl import vllm_args
from collabdsl.analysis import Facts
from collabdsl.builtins import DATA_BUILTINS, ENUMS, ROW_BUILTINS
from collabdsl.diagnostics import Diagnostic, error, warning
from collabdsl.evaluate import MAX_OPERATIONS, ROW_COMPREHENSION_CALL, template_slots, too_many_operations
from collabdsl.unparse import unparse
from collabdsl.options import (CONFIDENCE, METHOD_OPTIONS, backend_problem, objective_problem,
                               train_conflicts)
from collabdsl.vocab import (BACKEND_KWARGS, BACKENDS, EMBEDDED_MODELS, GOLD_FREE_METRICS, KB_METHODS, LORA_OPTIONS,
                             METRICS, MODEL_METHODS, MODEL_OPTIONS, OBJECTIVES, PARAM_TYPES, TRAIN_OPTIONS,
                             objective_options)


def _lit(e):
    """The value of a literal expression (numbers, negatives, strings, bools), else None."""
    if isinstance(e, A.Num):
        return e.value
    if isinstance(e, A.Neg) and isinstance(e.operand, A.Num):
        return -e.operand.value
    if isinstance(e, (A.Str, A.Bool)):
        return e.value
    return None


def _const(e, facts: Facts):
    """A literal, or a param's literal default. After binding (``facts.bound``): only a param
    whose value a profile or ``--set`` gave, with that value (the rest was checked before)."""
    if facts.bound is not None:
        if isinstance(e, A.Name) and str(e.id) in facts.origin:
            return facts.bound.get(str(e.id))
        return None
    v = _lit(e)
    if v is None and isinstance(e, A.Name):
        sym = facts.symbol(str(e.id))
        if sym is not None and sym.kind == "param":
            v = _lit(sym.node.default)
    return v


def _from(e, facts: Facts) -> str:
    """`` (p0 = 1.5, set by --set)`` for a value a profile or --set gave, else nothing."""
    if facts.bound is not None and isinstance(e, A.Name) and str(e.id) in facts.origin:
        return f" ({e.id} = {facts.bound.get(str(e.id))!r}, set by {facts.origin[str(e.id)]})"
    return ""


# ---------------------------------------------------------------------- names
def check_undefined(f: Facts) -> list[Diagnostic]:
    out = []
    for n in f.undefined:
        hint = ""
        if str(n.id) in MODEL_METHODS or str(n.id) in KB_METHODS:
            hint = f" ('{n.id}' is a method: call it on a model or kb, e.g. large.{n.id}(...))"
        out.append(error("E101", f"undefined name '{n.id}'{hint}", n.id.span if n.id.span.line else n.span))
    return out


def check_duplicates(f: Facts) -> list[Diagnostic]:
    return [error("E102", f"'{name}' is already defined as a {first.kind} at line {first.name.span.line}",
                  name.span) for name, first in f.duplicates]


def is_module(program: A.Program) -> bool:
    """A file without a ``program`` header that only defines prompts, steps and params (and
    imports): a library such as stdlib/qa.collab, whose definitions are used by importers."""
    return program.header is None and bool(program.body) and all(
        isinstance(st, (A.Prompt, A.Step, A.Param, A.Import)) for st in program.body)


def _unused(kind: str, code: str, label: str):
    def rule(f: Facts) -> list[Diagnostic]:
        if is_module(f.program):
            return []
        return [warning(code, f"{label} '{s.name}' is never used", s.name.span)
                for s in f.symbols.values()
                if s.kind == kind and not s.imported and f.uses.get(str(s.name), 0) == 0]
    rule.__name__ = f"check_unused_{kind}"
    return rule


check_unused_param = _unused("param", "W201", "param")
check_unused_model = _unused("model", "W202", "model")
check_unused_prompt = _unused("prompt", "W203", "prompt")
check_unused_data = _unused("data", "W204", "data")


# ---------------------------------------------------------------------- prompts
def check_slots(f: Facts) -> list[Diagnostic]:
    out = []
    for p in f.program.decls(A.Prompt):
        used = set(template_slots(p.template))
        declared = {str(s) for s in p.slots}
        for name in sorted(used - declared):
            out.append(error("E103", f"template slot '{{{name}}}' is not declared: add it to "
                             f"prompt {p.name}({', '.join(list(declared) + [name])})", p.template_span))
        for s in p.slots:
            if str(s) not in used:
                out.append(warning("W205", f"slot '{s}' of prompt '{p.name}' is never used in its template",
                                   s.span))
    return out


def check_call_arity(f: Facts) -> list[Diagnostic]:
    out = []
    for c in f.calls:
        if c.kind == "prompt":
            want = len(c.target.node.slots)
            got = len(c.call.args)
            if c.call.kwargs:
                out.append(error("E113", f"prompt '{c.target.name}' takes its slots by position",
                                 c.call.kwargs[0].span))
            elif got != want:
                out.append(error("E113", f"prompt '{c.target.name}' has {want} slot(s), called with {got}",
                                 c.call.span))
        elif c.kind == "step":
            want = len(c.target.node.params)
            if len(c.call.args) != want:
                out.append(error("E113", f"step '{c.target.name}' takes {want} argument(s), "
                                 f"called with {len(c.call.args)}", c.call.span))
        elif c.kind in ("builtin", "data_builtin"):
            b = (ROW_BUILTINS if c.kind == "builtin" else DATA_BUILTINS)[c.method]
            n = len(c.call.args)
            if not b.min_args <= n <= b.max_args:
                want = b.min_args if b.min_args == b.max_args else f"{b.min_args} to {b.max_args}"
                out.append(error("E113", f"{b.name}() takes {want} argument(s), called with {n}", c.call.span))
            for kw in c.call.kwargs:
                if kw.name not in b.kwargs:
                    out.append(error("E112", f"{b.name}() has no option '{kw.name}'"
                                     + (f"; options: {', '.join(b.kwargs)}" if b.kwargs else ""), kw.span))
    return out


# ---------------------------------------------------------------------- methods
def check_methods(f: Facts) -> list[Diagnostic]:
    """Unknown methods, a method on the wrong kind of thing, unknown or missing options."""
    out = []
    for c in f.calls:
        if c.kind == "model_method":
            table, what = MODEL_METHODS, "a model"
        elif c.kind == "kb_method":
            table, what = KB_METHODS, "a knowledge base"
        elif c.kind == "unknown" and c.method is not None and c.target is not None:
            out.append(error("E117", f"'{c.target.name}' is a {c.target.kind}; it has no method '{c.method}'",
                             c.call.func.span))
            continue
        else:
            continue
        m = table.get(c.method)
        if m is None:
            other = KB_METHODS if table is MODEL_METHODS else MODEL_METHODS
            hint = f" ('{c.method}' is a method of {'a knowledge base' if other is KB_METHODS else 'a model'})" \
                if c.method in other else ""
            out.append(error("E117", f"{what} has no method '{c.method}'{hint}; methods: {', '.join(table)}",
                             c.call.func.span))
            continue
        given = {str(k.name) for k in c.call.kwargs}
        backends = _declared_backends(f, c.target) if table is MODEL_METHODS else set()
        for kw in c.call.kwargs:
            if kw.name not in m.required + m.optional:
                out.append(error("E112", f"{c.method}() has no option '{kw.name}'; options: "
                                 f"{', '.join(m.required + m.optional)}", kw.span))
            elif kw.name in ENUMS:
                v = kw.value
                allowed = CONFIDENCE.get(c.method, ENUMS[kw.name]) if kw.name == "confidence" else ENUMS[kw.name]
                ok = isinstance(v, A.Name) and str(v.id) in allowed
                if kw.name == "on_parse_error" and (not isinstance(v, A.Name) or _is_param(f, v)):
                    ok = True  # a default value (a literal or a param's value)
                if not ok:
                    why = f" for {c.method}()" if kw.name == "confidence" else ""
                    out.append(error("E112", f"unknown {kw.name} '{_src(v)}'{why}; expected one of "
                                     f"{', '.join(allowed)}", v.span))
            elif table is MODEL_METHODS:
                as_model = MODEL_OPTIONS.get(str(kw.name))
                if backends == {"column"} and as_model is not None and backend_problem(as_model, "column"):
                    out.append(error("E112", backend_problem(as_model, "column", f"{c.method}() option"),
                                     kw.name.span))
                    continue
        for req in m.required:
            if req not in given:
                out.append(error("E118", f"{c.method}() needs '{req}:'", c.call.span))
        if len(c.call.args) != 1:
            out.append(error("E113", f"{c.method}() takes one positional argument (the prompt or text), "
                             f"got {len(c.call.args)}", c.call.span))
    return out


def check_kb_keys(f: Facts) -> list[Diagnostic]:
    """E118: a knowledge base that a retrieval ranks by key (``by: key``) is written with
    ``key:`` everywhere: a write without a key would be ranked by a made-up key."""
    by_key = {str(c.target.name) for c in f.calls if c.kind == "kb_method" and c.method == "retrieve"
              and c.target is not None and isinstance(c.call.kwarg("by"), A.Name)
              and str(c.call.kwarg("by").id) == "key"}
    return [error("E118", f"{c.target.name}.write() needs 'key:': {c.target.name}.retrieve(by: key) ranks "
                  "the entries' keys", c.call.span)
            for c in f.calls if c.kind == "kb_method" and c.method == "write" and c.target is not None
            and str(c.target.name) in by_key and c.call.kwarg("key") is None]


def _is_param(f: Facts, e: A.Name) -> bool:
    sym = f.symbol(str(e.id))
    return sym is not None and sym.kind == "param"


def _declared_backends(f: Facts, target) -> set[str]:
    """The backends a model role is declared with (every declaration, static-if branches
    included; a trained version has its source's), or an empty set when not known."""
    if target is None or target.kind != "model":
        return set()
    name, seen, out = str(target.name), set(), set()
    todo = [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        out |= {str(m.backend) for m in f.program.decls(A.Model) if str(m.name) == n}
        todo += [str(t.model) for t in f.program.decls(A.Training) if t.new_name is not None
                 and str(t.new_name) == n]
    return out


NOT_A_LIST = {"text": "a text", "number": "a number", "bool": "a bool", "dict": "a dict",
              "none": "none", "gen": "a generation", "choice": "a choice", "range": "a range"}


def check_choose_options(f: Facts) -> list[Diagnostic]:
    """choose() picks one of a list of texts: options whose type is known and is not a list (a
    string literal, a prompt call, a column written with texts) would be read as its
    characters or keys."""
    out = []
    for c in f.calls:
        if c.kind != "model_method" or c.method != "choose":
            continue
        e = c.call.kwarg("options")
        what = NOT_A_LIST.get(f.types.get(id(e))) if e is not None else None
        if what is not None:
            out.append(error("E130", f"choose() options must be a list of at least two texts; "
                             f"'{unparse(e)}' is {what}", e.span))
    return out


def _src(e) -> str:
    if isinstance(e, A.Name):
        return str(e.id)
    v = _lit(e)
    return str(v) if v is not None else type(e).__name__.lower()


def check_confidence_read(f: Facts) -> list[Diagnostic]:
    out = []
    for ff in f.fields:
        if ff.record is None:
            continue
        name = str(ff.attr.name)
        if ff.record == "text" and name == "confidence":
            out.append(warning("W207", "reading .confidence of a generation without an estimator: add "
                               "confidence: mean_token_prob (or top2_margin) to the generate call",
                               ff.attr.name.span))
        elif ff.record in ("choice", "gen") and name not in _fields(ff.record):
            out.append(error("E108", f"a {ff.record} result has no field '{name}'; fields: "
                             f"{', '.join(_fields(ff.record))}", ff.attr.name.span))
    return out


def _fields(rec):
    from collabdsl.vocab import RESULT_FIELDS
    return RESULT_FIELDS[rec]


# ---------------------------------------------------------------------- fields
def check_fields(f: Facts) -> list[Diagnostic]:
    out = []
    for ff in f.fields:
        if ff.record is not None or ff.schema is None:
            continue
        if str(ff.attr.name) not in ff.schema:
            cols = ", ".join(sorted(ff.schema)) or "none"
            out.append(error("E108", f"no upstream step produces field '{ff.attr.name}' of '{ff.data}' "
                             f"(known columns: {cols})", ff.attr.name.span))
    return out


# ---------------------------------------------------------------------- thresholds
def check_thresholds(f: Facts) -> list[Diagnostic]:
    out = []
    for node, what, (lo, hi), other in f.compares:
        v = _const(other, f)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if not lo <= v <= hi:
            rng = f"[{lo:g}, {hi:g}]"
            src = "its estimator" if what == "confidence" else "the judge's declared range"
            out.append(error("E104", f"threshold {v:g}{_from(other, f)} is outside {src} {rng}: the "
                             f"{what} can never compare as intended", other.span))
    return out


# ---------------------------------------------------------------------- training
def check_training(f: Facts) -> list[Diagnostic]:
    out = []
    for t, schema, data in f.trainings:
        sym = f.symbol(str(t.model))
        obj = OBJECTIVES.get(str(t.objective))
        if obj is None:
            out.append(error("E112", f"unknown training objective '{t.objective}'; objectives: "
                             f"{', '.join(OBJECTIVES)}", t.objective.span))
        if sym is not None and sym.kind == "model" and isinstance(sym.node, A.Model):
            m = sym.node
            backend = BACKENDS.get(str(m.backend))
            if m.trainable is False:
                out.append(error("E105", f"model '{t.model}' is declared frozen and cannot be trained",
                                 t.model.span))
            elif backend is not None and not backend.trainable and not _served(m):
                out.append(error("E106", f"model '{t.model}' is an {m.backend}() model; only local "
                                 "weights (embedded, hf, gguf, vllm) can be trained"
                                 + (", or a server() model that names the weights it serves (weights: "
                                    "\"org/model\", a local folder or \"embedded:NAME\")"
                                    if str(m.backend) == "server" else ""), t.model.span))
        elif sym is not None and sym.kind not in ("model", "import"):
            out.append(error("E117", f"'{t.model}' is a {sym.kind}, not a model", t.model.span))
        if obj is None:
            continue
        names = {str(kw.name) for kw in t.entries}
        values = {}
        for kw in t.entries:
            opt = TRAIN_OPTIONS.get(str(kw.name))
            if kw.name in obj.required + obj.optional:
                continue
            if opt is None:
                out.append(error("E112", f"{t.objective} has no entry '{kw.name}'; entries: "
                                 f"{', '.join(obj.required + obj.optional)}; options: "
                                 f"{', '.join(objective_options(obj.name))}", kw.name.span))
            elif objective_problem(opt, obj.name):
                out.append(error("E112", objective_problem(opt, obj.name), kw.name.span))
            else:
                v = _const(kw.value, f)
                if v is not None and not opt.problem(v):  # a bad value is check_option_values'
                    values[str(kw.name)] = v
        spans = {str(kw.name): kw.name.span for kw in t.entries}
        for name, message in train_conflicts(values):
            out.append(error("E112", message, spans[name]))
        node = sym.node if sym is not None and isinstance(sym.node, A.Model) else None
        no_lora = node is not None and str(node.backend) == "vllm" and any(
            str(kw.name) == "enable_lora" and _const(kw.value, f) is False for kw in node.kwargs)
        if no_lora and values.get("full") is not True and not (node.trainable and node.lora is None):
            out.append(error("E112", f"'{t.model}' is declared vllm(..., enable_lora: false), but this training "
                             "makes a LoRA adapter, which the engine could not run (remove enable_lora: false, "
                             "or train all weights: full: true)", t.model.span))
        if values.get("full") is True and sym is not None and isinstance(sym.node, A.Model) and _served(sym.node):
            out.append(error("E112", f"'{t.model}' is served by server(): a training of it makes a LoRA adapter, "
                             "which the server loads at run time; full fine-tuning would make a model the server "
                             "does not serve (remove full: true)", spans["full"]))
        for req in obj.required:
            if req not in names:
                out.append(error("E118", f"{t.objective} needs '{req}:'", t.span))
    return out


def check_option_values(f: Facts) -> list[Diagnostic]:
    """E109: the value of an option (per-call, training, model, backend kwarg, lora setting)
    outside its range or set, by the contract of collabdsl.options. A value rule: after
    binding it runs again on the values a profile or --set gave (``_const``, ``_from``)."""
    out = []

    def value(kw, opt):
        if opt is not None:
            problem = opt.problem(_const(kw.value, f))
            if problem:
                out.append(error("E109", problem + _from(kw.value, f), kw.value.span))

    for c in f.calls:
        if c.kind == "model_method" and c.method in MODEL_METHODS:
            for kw in c.call.kwargs:
                if kw.name in MODEL_METHODS[c.method].required + MODEL_METHODS[c.method].optional:
                    value(kw, METHOD_OPTIONS.get(str(kw.name)) if kw.name not in ENUMS else None)
    for t, _, _ in f.trainings:
        obj = OBJECTIVES.get(str(t.objective))
        for kw in t.entries if obj is not None else ():
            opt = TRAIN_OPTIONS.get(str(kw.name))
            if opt is not None and kw.name not in obj.required + obj.optional and not objective_problem(opt, obj.name):
                value(kw, opt)
    for m in f.program.decls(A.Model):
        for kw in m.kwargs:
            value(kw, BACKEND_KWARGS.get(str(m.backend), {}).get(str(kw.name)))
        for kw in m.options:
            o = MODEL_OPTIONS.get(str(kw.name))
            if o is not None and not backend_problem(o, str(m.backend)):
                value(kw, o)
        for kw in m.lora or []:
            if kw.name:
                value(kw, LORA_OPTIONS.get(str(kw.name)))
    return out


# ---------------------------------------------------------------------- load mapping
_LOAD_MAPPING = ("templates", "options", "answer_is")


def _load_value(e, f: Facts, used: list):
    """The value of a load option's expression: literals, params (their bound values after
    binding) and lists and dicts of them; None where it is none or not known. ``used``
    collects the params read."""
    if isinstance(e, A.ListLit):
        items = [_load_value(i, f, used) for i in e.items]
        return None if any(i is None for i in items) else items
    if isinstance(e, A.DictLit):
        return {str(k): _load_value(v, f, used) for k, v in zip(e.keys, e.values)}
    if isinstance(e, A.Name):
        sym = f.symbol(str(e.id))
        if sym is not None and sym.kind == "param":
            used.append(str(e.id))
            return f.bound.get(str(e.id)) if f.bound is not None else _lit(sym.node.default)
        return None
    return _lit(e)


def check_load_mapping(f: Facts) -> list[Diagnostic]:
    """``load``'s templates:, options: and answer_is: (collabdsl.loadmap): E109 for a value
    outside the rule (a template naming no column, fewer than two options, an unknown answer
    form), E131 for a mapping that cannot work: a built column that columns: maps from another
    source column, a template naming a column a builtin source lacks, an answer_is without the
    answer (or options) column the load gives. After binding, only what a profile or --set
    changed is reported again."""
    from collabdsl.loadmap import given_templates, template_columns
    from collabdsl.options import LOAD_OPTIONS

    out = []
    for c in f.calls:
        if c.kind != "data_builtin" or c.method != "load":
            continue
        call = c.call
        vals, used = {}, {}
        for name in ("columns", "attach") + _LOAD_MAPPING:
            e = call.kwarg(name)
            if e is not None:
                used[name] = []
                vals[name] = _load_value(e, f, used[name])

        def report(code, msg, span, *names):
            if f.bound is None or any(p in f.origin for n in names for p in used.get(n, ())):
                origin = [f"{p} = {f.bound.get(p)!r}, set by {f.origin[p]}" for n in names
                          for p in used.get(n, ()) if f.bound is not None and p in f.origin]
                out.append(error(code, msg + (f" ({'; '.join(dict.fromkeys(origin))})" if origin else ""), span))

        for name in _LOAD_MAPPING:
            if vals.get(name) is not None:
                problem = LOAD_OPTIONS[name].problem(vals[name])
                if problem:
                    report("E109", problem, call.kwarg(name).span, name)
        templates = given_templates(vals["templates"]) if isinstance(vals.get("templates"), dict) else {}
        if LOAD_OPTIONS["templates"].problem(vals.get("templates")):
            templates = {}
        fixed = vals.get("options") is not None and not LOAD_OPTIONS["options"].problem(vals["options"])
        cols = vals.get("columns") if isinstance(call.kwarg("columns"), A.DictLit) else None
        col_expr = call.kwarg("columns")
        built = {k: "templates: builds" for k in templates}
        if fixed:
            if "options" in built:
                report("E131", "templates: builds the column 'options' and options: gives every row its options: "
                       "keep one of the two", call.kwarg("options").span, "templates", "options")
            built["options"] = "options: gives every row"
        for k, what in built.items():
            if cols is not None and k in cols and cols[k] is not None and cols[k] != k:
                span = col_expr.values[[str(x) for x in col_expr.keys].index(k)].span
                report("E131", f"{what} the column '{k}', but columns: maps '{k}' from '{cols[k]}': keep one of "
                       f"the two (or map it as {k}: \"{k}\")", span, "columns", "templates", "options")
        src = call.args[0] if call.args else None
        if isinstance(src, A.Str) and src.value.startswith("builtin:") and templates:
            from collabdsl.analysis import _builtin_schema

            schema = _builtin_schema(src.value[len("builtin:"):])
            t_expr = call.kwarg("templates")
            for k, t in templates.items():
                missing = [col for col in template_columns(t) if schema is not None
                           and col.split(".")[0] not in schema]
                if missing and isinstance(t_expr, A.DictLit):
                    span = t_expr.values[[str(x) for x in t_expr.keys].index(k)].span
                    report("E131", f"the template of '{k}' names the column '{missing[0]}', which {src.value} does "
                           f"not have; its columns: {', '.join(sorted(schema))}", span, "templates")
        answer_is = vals.get("answer_is")
        if isinstance(answer_is, str) and not LOAD_OPTIONS["answer_is"].problem(answer_is) and cols is not None:
            attach = vals.get("attach") if isinstance(vals.get("attach"), dict) else {}
            schema = set(cols) | set(built) | set(attach)
            need = ([] if answer_is == "text" else ["answer"]) + \
                (["options"] if answer_is in ("index0", "index1", "letter") else [])
            missing = [n for n in need if n not in schema]
            if missing:
                report("E131", f"answer_is \"{answer_is}\" maps the 'answer' column to its option's text, but this "
                       f"load gives no {' and no '.join(repr(m) for m in missing)} column (map "
                       f"{'it' if len(missing) == 1 else 'them'} with columns:"
                       f"{' or give options:' if 'options' in missing else ''})",
                       call.kwarg("answer_is").span, "answer_is", "columns", "options", "templates")
    return out


def check_dpo_pairs(f: Facts) -> list[Diagnostic]:
    out = []
    for t, schema, data in f.trainings:
        if str(t.objective) != "dpo" or schema is None:
            continue
        missing = [col for col in ("chosen", "rejected") if t.entry(col) is None and col not in schema]
        if missing:
            cols = " and ".join(f"'{c}'" for c in missing)
            out.append(error("E107", f"dpo needs preference pairs: '{data}' has no {cols} "
                             f"column{'s' if len(missing) > 1 else ''} (build pairs with "
                             f"`expand p in pairs(...)` or give {', '.join(c + ':' for c in missing)} "
                             "explicitly)", t.span))
    return out


def check_lambda(f: Facts) -> list[Diagnostic]:
    """Params named like kd's lambda hold a weight in [0, 1] (a training's lambda: entry is
    checked with the other training options, in check_training)."""
    out = []
    for p in f.program.decls(A.Param) if f.bound is None else ():
        if str(p.name) in ("lam", "lambda_", "kd_lambda"):
            v = _lit(p.default)
            if isinstance(v, (int, float)) and not 0 <= v <= 1:
                out.append(error("E109", f"lambda {v:g} is outside [0, 1]", p.default.span))
    return out


def check_counts(f: Facts) -> list[Diagnostic]:
    """k of sample, max of items, top of retrieve, repeat counts and limits must be >= 1."""
    out = []

    def bad(e, what):
        v = _const(e, f)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 1:
            out.append(error("E110", f"{what} must be at least 1, got {v:g}{_from(e, f)}", e.span))

    for c in f.calls:
        for kw in c.call.kwargs:
            if (c.method, str(kw.name)) in (("sample", "k"), ("items", "max"), ("mc_questions", "max"), ("retrieve", "top"),
                                            ("load", "limit")):
                bad(kw.value, f"{kw.name}")
    for r in f.program.decls(A.Repeat):
        if r.count is not None:
            bad(r.count, "a repeat count")
        if r.max is not None:
            bad(r.max, "a repeat max")
    for p in f.program.decls(A.Param) if f.bound is None else ():
        if str(p.name) == "k" or str(p.name).endswith("_k"):
            bad(p.default, f"param {p.name}")
    return out


def _loop_carries(r: A.Repeat, steps: dict) -> bool:
    """Whether an iteration of ``r`` can differ from the one before: it trains, writes a
    knowledge base, reads its iteration variable, or writes a row column or data set that
    the loop (its body, the steps it calls, its ``until``) reads, so the next iteration
    starts from it."""
    nodes = [n for st in r.body for n in st.walk()] + ([n for n in r.until.walk()] if r.until else [])
    seen: set[str] = set()
    for n in nodes:  # grows while it is read: the bodies of the steps called, transitively
        if isinstance(n, A.Call) and isinstance(n.func, A.Name) and str(n.func.id) in steps \
                and str(n.func.id) not in seen:
            seen.add(str(n.func.id))
            nodes.extend(m for st in steps[str(n.func.id)].body for m in st.walk())
    if any(isinstance(n, A.Training) for n in nodes):
        return True
    if any(isinstance(n, A.Call) and isinstance(n.func, A.Attr) and str(n.func.name) == "write" for n in nodes):
        return True
    names_read = {str(n.id) for n in nodes if isinstance(n, A.Name)}
    if r.var is not None and str(r.var) in names_read:
        return True
    columns_read = {str(n.name) for n in nodes if isinstance(n, A.Attr)}
    written = {str(n.name) for n in nodes if isinstance(n, A.Assign) and n.var is not None}
    data_written = {str(name) for n in nodes if isinstance(n, A.Data) for name in n.names}
    return bool(written & columns_read) or bool(data_written & names_read)


def check_loop_trains(f: Facts) -> list[Diagnostic]:
    out = []
    steps = {str(s.name): s for s in f.program.decls(A.Step)}
    for r in f.program.decls(A.Repeat):
        if not _loop_carries(r, steps):
            out.append(warning("W206", "this loop carries nothing between iterations (it trains nothing and "
                               "reads none of the columns or data sets it writes): every iteration would "
                               "compute the same results", r.span))
    return out


# ---------------------------------------------------------------------- declarations
def _of_type(v, typ_name: str) -> bool:
    typ = PARAM_TYPES.get(typ_name)
    return typ is not None and isinstance(v, typ) and (typ_name == "bool" or not isinstance(v, bool))


def param_choices(p: A.Param) -> list | None:
    """The values ``param NAME: T = D in [...]`` allows (None: any value of its type, or a
    list the checker rejects)."""
    if not isinstance(p.choices, A.ListLit):
        return None
    vals = [_lit(i) for i in p.choices.items]
    return vals if vals and all(v is not None and _of_type(v, str(p.type)) for v in vals) else None


def choice_problem(p: A.Param, value) -> str | None:
    """Why ``value`` is not one of the values param ``p`` allows, or None."""
    vals = param_choices(p)
    if vals is None or value is None or value in vals:
        return None
    shown = ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in vals)
    got = f'"{value}"' if isinstance(value, str) else str(value)
    return f"{got} is not one of the values of param '{p.name}': {shown}"


def check_params(f: Facts) -> list[Diagnostic]:
    out = []
    for p in f.program.decls(A.Param):
        v = _lit(p.default)
        if p.choices is not None:
            vals, outside = param_choices(p), choice_problem(p, v)
            if vals is None:
                out.append(error("E114", f"the values of param '{p.name}' (`in [...]`) must be a list of "
                                 f"{p.type} literals", p.choices.span))
            elif len(set(vals)) != len(vals):
                out.append(error("E114", f"the values of param '{p.name}' repeat a value", p.choices.span))
            elif outside:
                out.append(error("E114", f"the default {outside}", p.default.span))
        if str(p.type) not in PARAM_TYPES:
            out.append(error("E114", f"unknown param type '{p.type}'; types: {', '.join(PARAM_TYPES)}",
                             p.type.span))
            continue
        if v is None and not isinstance(p.default, A.NoneLit):
            out.append(error("E114", f"the default of param '{p.name}' must be a literal", p.default.span))
        elif v is not None and not _of_type(v, str(p.type)):
            out.append(error("E114", f"param '{p.name}' is {p.type} but its default is "
                             f"{type(v).__name__}", p.default.span))
        elif isinstance(v, float) and not math.isfinite(v):
            out.append(error("E114", f"the default of param '{p.name}' is not a finite number ({v})",
                             p.default.span))
        if p.ablation is not None and str(p.type) != "bool":
            out.append(error("E114", f"param '{p.name}' is {p.type}: only a bool param can be an ablation "
                             f"switch (`collab sweep --ablations` flips it)", p.type.span))
        elif p.ablation is not None and not p.ablation.strip():
            out.append(error("E114", f"the ablation of param '{p.name}' needs a name, e.g. "
                             f'ablation "w/o {p.name}"', p.span))
    labels: dict[str, A.Param] = {}
    for p in f.program.decls(A.Param):
        if p.ablation and p.ablation in labels:
            out.append(error("E114", f"ablation \"{p.ablation}\" is already the ablation of param "
                             f"'{labels[p.ablation].name}' (line {labels[p.ablation].span.line})", p.span))
        labels.setdefault(p.ablation or "", p)
    return out


def check_profiles(f: Facts) -> list[Diagnostic]:
    """Profiles: at the top level, distinct names, one default, literal values of known
    params with the param's type."""
    out = []
    params = {str(p.name): p for p in f.program.decls(A.Param)}
    top = [st for st in f.program.body if isinstance(st, A.Profile)]
    for pr in f.program.decls(A.Profile):
        if not any(pr is t for t in top):
            out.append(error("E124", f"profile '{pr.name}' must be declared at the top level, "
                             "not inside a loop or an if", pr.name.span))
    names, default = {}, None
    for pr in top:
        if str(pr.name) == "none":
            out.append(error("E124", "'none' is not a profile name: `--profile none` means the "
                             "declared defaults", pr.name.span))
        elif str(pr.name) in names:
            out.append(error("E124", f"profile '{pr.name}' is already defined at line "
                             f"{names[str(pr.name)].name.span.line}", pr.name.span))
        names.setdefault(str(pr.name), pr)
        if pr.is_default:
            if default is not None:
                out.append(error("E124", f"two default profiles: '{default.name}' (line "
                                 f"{default.name.span.line}) and '{pr.name}'", pr.name.span))
            default = default or pr
        seen = set()
        for ps in pr.sets:
            p = params.get(str(ps.name))
            if p is None:
                out.append(error("E123", f"profile '{pr.name}' sets '{ps.name}', which is not a param "
                                 f"(params: {', '.join(params) or 'none'})", ps.name.span))
                continue
            if str(ps.name) in seen:
                out.append(error("E124", f"profile '{pr.name}' sets '{ps.name}' twice", ps.name.span))
            seen.add(str(ps.name))
            typ = PARAM_TYPES.get(str(p.type))
            v = _lit(ps.value)
            if v is None and not isinstance(ps.value, A.NoneLit):
                out.append(error("E123", f"profile '{pr.name}': the value of '{ps.name}' must be a "
                                 "literal", ps.value.span))
            elif typ is not None and v is not None and (
                    not isinstance(v, typ) or (str(p.type) != "bool" and isinstance(v, bool))):
                out.append(error("E123", f"profile '{pr.name}': param '{ps.name}' is {p.type} but the "
                                 f"value is {type(v).__name__}", ps.value.span))
            elif isinstance(v, float) and not math.isfinite(v):
                out.append(error("E123", f"profile '{pr.name}': the value of '{ps.name}' is not a finite "
                                 f"number ({v})", ps.value.span))
            elif choice_problem(p, v):
                out.append(error("E123", f"profile '{pr.name}': {choice_problem(p, v)}", ps.value.span))
    return out


def unknown_kwarg(backend: str, name: str) -> str:
    """The message for a keyword a backend reference does not take: vllm() takes vLLM's engine
    arguments (collabdsl.vllm_args: a reserved name says why, a near miss what was meant)."""
    if backend == "vllm":
        return vllm_args.unknown(name)
    kwargs = BACKEND_KWARGS.get(backend, {})
    close = difflib.get_close_matches(name, list(kwargs), n=1, cutoff=0.75)
    return (f"{backend}() has no option '{name}'" + (f"; did you mean '{close[0]}'?" if close else "")
            + (f"; options: {', '.join(kwargs)}" if kwargs else ""))


def check_models(f: Facts) -> list[Diagnostic]:
    out = []
    for m in f.program.decls(A.Model):
        b = BACKENDS.get(str(m.backend))
        if b is None:
            out.append(error("E112", f"unknown backend '{m.backend}'; backends: {', '.join(BACKENDS)}",
                             m.backend.span))
            continue
        if len(m.args) != 1:
            out.append(error("E113", f"{m.backend}() takes one reference, e.g. {b.doc.split(': ', 1)[-1]}",
                             m.span))
        elif str(m.backend) == "embedded":
            v = _const(m.args[0], f)
            if isinstance(v, str) and v not in EMBEDDED_MODELS:
                out.append(error("E112", f"unknown embedded model '{v}'; embedded: "
                                 f"{', '.join(EMBEDDED_MODELS)}", m.args[0].span))
        kwargs = BACKEND_KWARGS.get(str(m.backend), {})
        for kw in m.kwargs:
            if kw.name not in kwargs:
                out.append(error("E112", unknown_kwarg(str(m.backend), str(kw.name)), kw.span))
        for opt in m.options:
            o = MODEL_OPTIONS.get(str(opt.name))
            if o is None:
                out.append(error("E112", f"unknown model option '{opt.name}'; options: "
                                 f"{', '.join(MODEL_OPTIONS)}", opt.name.span))
            elif backend_problem(o, str(m.backend)):
                out.append(error("E112", backend_problem(o, str(m.backend)), opt.name.span))
        for kw in m.lora or []:
            o = LORA_OPTIONS.get(str(kw.name))
            if not kw.name:
                out.append(error("E113", "lora() takes its settings by name: lora(r: 16, alpha: 32, "
                                 "dropout: 0.05)", kw.value.span))
            elif o is None:
                out.append(error("E112", f"lora() has no option '{kw.name}'; options: "
                                 f"{', '.join(LORA_OPTIONS)}", kw.name.span))
        served = _served(m)
        if m.trainable and not b.trainable and not served:
            out.append(error("E106", f"an {m.backend}() model cannot be trainable"
                             + (": a server() model is, with weights: naming the weights it serves (its "
                                "trainings fine-tune a LoRA adapter on them, loaded into the server)"
                                if str(m.backend) == "server" else ""), m.span))
        elif served and m.trainable and m.lora is None:
            out.append(error("E106", f"'{m.name}' is served by server(): it trains LoRA adapters only, which "
                             "the server loads at run time; `trainable full` would make a new model the server "
                             "does not serve (write `trainable` or `trainable lora(...)`)", m.span))
        for kw in m.kwargs if str(m.backend) == "server" else ():
            v = _const(kw.value, f) if str(kw.name) == "weights" else None
            if isinstance(v, str) and v.startswith("embedded:") and v[len("embedded:"):] not in EMBEDDED_MODELS:
                out.append(error("E112", f"unknown embedded model '{v[len('embedded:'):]}' in weights; embedded: "
                                 f"{', '.join(EMBEDDED_MODELS)}", kw.value.span))
    return out


def _served(m: A.Model) -> bool:
    """A server() model that names the weights it serves (weights:): trainable with LoRA."""
    return str(m.backend) == "server" and any(str(kw.name) == "weights" for kw in m.kwargs)


def check_static_ifs(f: Facts) -> list[Diagnostic]:
    """Program-level ifs are decided from params before the run."""
    out = []
    for cond in f.static_conds:
        for node in cond.walk():
            if isinstance(node, A.Name):
                sym = f.symbol(str(node.id))
                kind = sym.kind if sym is not None else "loop variable" if str(node.id) in f.loop_vars \
                    else None
                if kind is not None and kind not in ("param", "import"):
                    out.append(error("E115", f"a program-level if can only test params; '{node.id}' is a "
                                     f"{kind} (use a per-row if inside a for block)", node.span))
            elif isinstance(node, (A.Call, A.Attr)):
                out.append(error("E115", "a program-level if can only test params and literals", node.span))
                break
    return out


def check_data_refs(f: Facts) -> list[Diagnostic]:
    """Blocks, trainings, evals, filters and data builtins iterate a data set named by its name,
    defined earlier in the program."""
    out = [error("E101", f"data '{n.id}' is used before its definition at line "
                         f"{f.symbol(str(n.id)).name.span.line}", n.span) for n in f.early_data]
    for e, what in f.data_refs:
        if isinstance(e, A.Name):
            sym = f.symbol(str(e.id))
            if sym is not None and sym.kind not in ("data", "import"):
                out.append(error("E117", f"{what} needs a data set; '{e.id}' is a {sym.kind}", e.span))
        else:
            out.append(error("E117", f"{what} needs the name of a data set: bind this one first "
                             "(data d = ...)", e.span))
    return out


def check_step_recursion(f: Facts) -> list[Diagnostic]:
    """Steps are inlined at each call, so a step cannot call itself, directly or not."""
    calls: dict[str, list] = {}
    for c in f.calls:
        if c.kind == "step" and c.scope is not None:
            calls.setdefault(c.scope, []).append(c)
    out, reported = [], set()

    def cycle_from(start: str) -> list | None:
        """The calls of a path from ``start`` back to it, or None."""
        stack, seen = [(start, [])], set()
        while stack:
            step, path = stack.pop()
            for c in calls.get(step, []):
                callee = str(c.target.name)
                if callee == start:
                    return path + [c]
                if callee not in seen:
                    seen.add(callee)
                    stack.append((callee, path + [c]))
        return None

    for step in calls:
        path = cycle_from(step)
        if path is None:
            continue
        members = frozenset([step] + [str(c.target.name) for c in path])
        if members in reported:
            continue
        reported.add(members)
        via = " -> ".join([step] + [str(c.target.name) for c in path])
        out.append(error("E122", f"step '{step}' calls itself ({via}): steps are inlined where they are "
                         "called, so they cannot recurse", path[0].call.span))
    return out


def check_returns(f: Facts) -> list[Diagnostic]:
    out = [error("E116", "return outside a step", r.span) for r in f.returns_outside]
    for s in f.program.decls(A.Step):
        if not any(isinstance(st, A.Return) for st in A.iter_row_stmts(s.body)):
            out.append(warning("W208", f"step '{s.name}' returns nothing", s.name.span))
    return out


def check_ensembles(f: Facts) -> list[Diagnostic]:
    """An ensemble lists models, each once."""
    out = []
    for e in f.program.decls(A.Ensemble):
        seen = set()
        for m in e.members:
            sym = f.symbol(str(m))
            if sym is not None and sym.kind != "model":
                out.append(error("E117", f"'{m}' is a {sym.kind}, not a model: model {e.name} = [...] lists models",
                                 m.span))
            if str(m) in seen:
                out.append(error("E102", f"'{m}' appears twice in model {e.name}", m.span))
            seen.add(str(m))
    return out


def check_eval(f: Facts) -> list[Diagnostic]:
    out = []
    for e in f.program.decls(A.Eval):
        for m in e.metrics:
            if m not in METRICS:
                out.append(error("E112", f"unknown metric '{m}'; metrics: {', '.join(METRICS)}", m.span))
        if e.gold is None and any(str(m) not in GOLD_FREE_METRICS for m in e.metrics):
            out.append(error("E119", f"eval '{e.name}' needs a `gold EXPR` line naming the gold answer "
                             f"(only {', '.join(GOLD_FREE_METRICS)} read none)", e.span))
        if not e.systems:
            out.append(warning("W209", f"eval '{e.name}' evaluates no system", e.span))
        seen = set()
        for s in e.systems:
            if s.label in seen:
                out.append(error("E102", f"system '{s.label}' appears twice in eval '{e.name}'", s.span))
            seen.add(s.label)
        for d in e.derived:
            if d.label in seen:
                out.append(error("E102", f"system '{d.label}' appears twice in eval '{e.name}'", d.span))
            out += _derived_problems(f, e, d, seen)
            seen.add(d.label)
    return out


def _derived_problems(f: Facts, e: A.Eval, d: A.Derived, systems: set) -> list[Diagnostic]:
    """A derived row reads other rows of its table (``system("label")``, a label defined
    above it), params and numbers; nothing of a row."""
    out = []
    for n in d.expr.walk():
        if isinstance(n, A.Call):
            if n.fname != "system" or len(n.args) != 1 or n.kwargs or not isinstance(n.args[0], A.Str):
                out.append(error("E113", "a derived row computes with system(\"label\") (one label), params and "
                                 "numbers", n.span))
            elif n.args[0].value not in systems:
                out.append(error("E101", f"no system '{n.args[0].value}' above this line in eval '{e.name}'",
                                 n.args[0].span))
        elif isinstance(n, A.Attr):
            out.append(error("E113", "a derived row reads no row value: it computes with system(\"label\"), params "
                             "and numbers", n.span))
            break
        elif isinstance(n, A.Name):
            sym = f.symbol(str(n.id))
            if str(n.id) != "system" and (sym is None or sym.kind != "param"):
                out.append(error("E101", f"undefined name '{n.id}' (a derived row reads params only)", n.span))
    return out


def check_comprehensions(f: Facts) -> list[Diagnostic]:
    """A comprehension over row values is evaluated row by row, outside the graph: its element
    cannot call a model, a knowledge base or a step (each of those is a graph node)."""
    return [error("E125", f"'{unparse(c.call)}' {ROW_COMPREHENSION_CALL}", c.call.span)
            for c in f.row_comprehension_calls] + \
        [error("E125", "a comprehension over a list of models takes no `if`: list the models it calls", cond.span)
         for cond in f.filtered_model_lists]


# ---------------------------------------------------------------------- size
_ROW_OPS = (A.Assign, A.Gate, A.Return, A.CallStmt)


class _Expansion:
    """How many graph operations a piece of the program lowers to, estimated from the AST
    the way the lowering builds it: every row statement and model or kb call is one, a step
    call is its body again (steps are inlined), a comprehension over a range or a literal
    list is its element once per item (unrolled)."""

    def __init__(self, f: Facts):
        self.f = f
        self.steps = {str(s.name): s for s in f.program.decls(A.Step)}
        self.memo: dict[str, int] = {}
        self.sizes: dict[int, int] = {}  # id(node) -> size, so a search is linear

    def step(self, name: str) -> int:
        if name not in self.memo:
            self.memo[name] = 0  # a recursive step (E122) adds nothing more
            self.memo[name] = sum(self.size(st) for st in self.steps[name].body)
        return self.memo[name]

    def items(self, e: A.ListComp) -> int:
        it = e.iterable
        if isinstance(it, A.ListLit):
            return len(it.items)
        if isinstance(it, A.Range):
            lo, hi = _const(it.lo, self.f), _const(it.hi, self.f)
            if all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
                return max(hi - lo + 1, 0)
        return 1

    def own(self, node) -> int:
        if isinstance(node, _ROW_OPS):
            return 1
        if isinstance(node, A.Call):
            if node.method is not None and (node.method[1] in MODEL_METHODS or node.method[1] in KB_METHODS):
                return 1
            if node.method is None and node.fname in self.steps:
                return self.step(node.fname)
        return 0

    def size(self, node) -> int:
        if id(node) not in self.sizes:
            if isinstance(node, A.ListComp):
                n = self.size(node.iterable) + self.items(node) * self.size(node.elem)
            else:
                n = self.own(node) + sum(self.size(c) for c in node.children())
            self.sizes[id(node)] = n
        return self.sizes[id(node)]


def check_expansion(f: Facts) -> list[Diagnostic]:
    """A program whose steps and comprehensions expand past MAX_OPERATIONS graph operations
    (e.g. steps that call steps twice per level) is an error at the outermost call that
    does it, before anything builds the graph."""
    ex, total = _Expansion(f), 0
    for st in iter_program_stmts(f.program.body):
        n = ex.size(st)
        total += n
        if total <= MAX_OPERATIONS:
            continue
        for node in st.walk():
            if isinstance(node, (A.Call, A.ListComp)) and ex.size(node) > MAX_OPERATIONS:
                what = (f"step '{node.fname}'" if isinstance(node, A.Call) and node.fname in ex.steps
                        else "this call" if isinstance(node, A.Call) else "this comprehension")
                return [error("E129", too_many_operations(what, ex.size(node)), node.span)]
        return [error("E129", too_many_operations("the program", total), st.span)]
    return []


def iter_program_stmts(body: list):
    """The program's statements that lower to operations (not the step definitions, which
    count where they are called)."""
    for st in A.iter_stmts(body):
        if not isinstance(st, (A.Step, A.Repeat, A.StaticIf)):
            yield st


RULES: list[tuple[str, Callable[[Facts], list[Diagnostic]]]] = [  # every code each rule can emit
    ("E101", check_undefined), ("E102", check_duplicates),
    ("W201", check_unused_param), ("W202", check_unused_model), ("W203", check_unused_prompt),
    ("W204", check_unused_data), ("E103/W205", check_slots), ("E113/E112", check_call_arity),
    ("E117/E112/E118/E113", check_methods), ("E118", check_kb_keys), ("E130", check_choose_options), ("W207/E108", check_confidence_read), ("E108", check_fields),
    ("E104", check_thresholds), ("E105/E106/E112/E117/E118", check_training), ("E109", check_option_values),
    ("E107", check_dpo_pairs),
    ("E109", check_lambda), ("E110", check_counts), ("W206", check_loop_trains),
    ("E114", check_params), ("E112/E113/E106", check_models), ("E115", check_static_ifs),
    ("E116/W208", check_returns), ("E119/W209/E112/E102", check_eval), ("E117/E102", check_ensembles), ("E117/E101", check_data_refs),
    ("E122", check_step_recursion), ("E123/E124", check_profiles), ("E125", check_comprehensions),
    ("E129", check_expansion), ("E109/E131", check_load_mapping),
]


VALUE_RULES = (check_thresholds, check_lambda, check_counts, check_option_values, check_load_mapping)  # the rules that read param values


def check_bound_values(f: Facts, params: dict, origin: dict[str, str]) -> list[Diagnostic]:
    """The value rules again, with the values a profile or ``--set`` gave the params
    (``origin``: param -> where its value came from): a threshold set with ``--set p0=1.5``
    gets the E104 its default would have."""
    import dataclasses

    bound = dataclasses.replace(f, bound=dict(params), origin=dict(origin))
    return [d for rule in VALUE_RULES for d in rule(bound)]


def run_checks(f: Facts) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for _, rule in RULES:
        out.extend(rule(f))
    return out
