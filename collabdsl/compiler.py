"""The compiler pipeline: parse -> link imports -> analyse -> check -> bind params and
models -> lower to the IR graph. Each stage is a function; this module chains them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from collabdsl import ast as A
from collabdsl.analysis import analyze
from collabdsl.checks import check_bound_values, choice_problem, run_checks
from collabdsl.diagnostics import Diagnostic, error
from collabdsl.evaluate import EvalError, constant
from collabdsl.linker import link
from collabdsl.masking import mask
from collabdsl.options import backend_problem
from collabdsl.parser import parse_file, unescape
from collabdsl.vocab import BACKEND_KWARGS, BACKENDS, LORA_OPTIONS, MODEL_OPTIONS, PARAM_TYPES, REF_KINDS


@dataclass
class CompileResult:
    program: A.Program | None
    graph: object | None  # networkx.DiGraph
    diagnostics: list[Diagnostic] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    profile: str | None = None  # the profile whose values were applied
    facts: object | None = None  # the checker's facts (collabdsl.analysis.Facts)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.is_error]


def check_path(path: str, allow_read: tuple | list = (), literals: bool = True) -> CompileResult:
    """Parse, link and check one file (no IR). Imports, and with ``literals`` the literal
    paths and model references, are checked against what the program may read (its folder,
    the current directory and ``allow_read``: :mod:`collabdsl.access`)."""
    from collabdsl.access import ReadPolicy, lint_literals

    policy = ReadPolicy.for_program(path, allow_read)
    program, diags = parse_file(path)
    sources = {}
    if program is None:
        try:
            sources[str(path)] = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
        return CompileResult(None, None, diags, sources)
    sources[program.path] = program.source
    program, link_diags, link_sources = link(program, policy)
    sources.update(link_sources)
    diags = diags + link_diags
    facts = analyze(program)
    diags += run_checks(facts)
    if literals:
        diags += lint_literals(program, policy)
    return CompileResult(program, None, _dedupe(diags), sources, facts=facts)


def _dedupe(diags):
    seen, out = set(), []
    for d in diags:
        key = (d.code, d.span.path, d.span.line, d.span.col, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def lint_paths(paths: list[str], allow_read: tuple | list = ()) -> tuple[list[Diagnostic], dict[str, str]]:
    diags, sources = [], {}
    for p in paths:
        r = check_path(p, allow_read)
        diags += r.diagnostics
        sources.update(r.sources)
    return diags, sources


# ---------------------------------------------------------------------- binding
def select_profile(program: A.Program, name: str | None) -> tuple[A.Profile | None, list[Diagnostic]]:
    """The profile ``--profile NAME`` names; without one, the program's default profile;
    ``none``: no profile (the declared defaults)."""
    profiles = {str(p.name): p for p in program.body if isinstance(p, A.Profile)}
    if name is None:
        return next((p for p in profiles.values() if p.is_default), None), []
    if name == "none":
        return None, []
    if name not in profiles:
        where = A.Span("--profile", 0, 0, 0, 0)
        return None, [error("E120", f"--profile {name}: no profile '{name}' in {program.path} "
                            f"(profiles: {', '.join(profiles) or 'none'}; `none` = the declared defaults)",
                            where)]
    return profiles[name], []


def bind_params(program: A.Program, sets: dict[str, str],
                profile: A.Profile | None = None) -> tuple[dict, list[Diagnostic]]:
    """Param values: defaults, then the profile's values, then ``--set name=value`` parsed
    by the param's type. Defaults are computed in declaration order, so a default that
    reads an earlier param sees that param's profile value."""
    values, diags = {}, []
    decls = {str(p.name): p for p in program.decls(A.Param)}
    chosen = {str(ps.name): ps.value for ps in profile.sets} if profile is not None else {}
    for name, p in decls.items():
        try:
            values[name] = constant(chosen.get(name, p.default), values)
        except EvalError:
            values[name] = None
    where = A.Span("--set", 0, 0, 0, 0)
    for name, raw in (sets or {}).items():
        p = decls.get(name)
        if p is None:
            diags.append(error("E120", f"--set {name}: no param '{name}' in {program.path} "
                               f"(params: {', '.join(decls) or 'none'})", where))
            continue
        try:
            values[name] = parse_value(raw, str(p.type))
        except ValueError as exc:
            diags.append(error("E120", mask(f"--set {name}={raw}: {exc}"), where))
            continue
        if choice_problem(p, values[name]):
            diags.append(error("E120", mask(f"--set {name}={raw}: {choice_problem(p, values[name])} "
                                            f"(declared at {p.span.path}:{p.span.line})"), where))
    return values, diags


def parse_value(raw: str, typ: str):
    if typ == "bool":
        low = raw.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if typ == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError("expected an integer") from None
    if typ == "float":
        try:
            v = float(raw)
        except ValueError:
            raise ValueError("expected a number") from None
        if not math.isfinite(v):
            raise ValueError("expected a finite number")
        return v
    if typ == "str":  # the escapes of the language's strings: '\n\nQ:' holds two newlines
        return unescape(raw)
    if typ in PARAM_TYPES:
        return raw
    raise ValueError(f"unknown type {typ}")


def parse_model_ref(ref: str) -> dict:
    """``KIND:VALUE`` -> a model spec. ``server:URL#MODEL`` names the served model."""
    kind, sep, value = ref.partition(":")
    if not sep or kind not in REF_KINDS or not value:
        raise ValueError(f"expected KIND:VALUE with KIND one of {', '.join(REF_KINDS)}, got {ref!r}")
    spec = {"backend": kind, "ref": value, "kwargs": {}}
    if kind == "server" and "#" in value:
        spec["ref"], spec["kwargs"]["model"] = value.rsplit("#", 1)
    return spec


def served_weights(backend: str, kwargs: dict) -> dict | None:
    """The local weights a ``server(..., weights: W)`` model serves, as a model spec the trainer
    loads: ``embedded:NAME`` the shipped model, ``hf:X`` or X a hub id or a local folder; None
    for other backends or without ``weights``."""
    w = kwargs.get("weights") if backend == "server" else None
    if not isinstance(w, str) or not w:
        return None
    kind, sep, value = w.partition(":")
    if sep and kind == "embedded":
        return {"backend": "embedded", "ref": value}
    if sep and kind == "hf":
        return {"backend": "hf", "ref": value}
    return {"backend": "hf", "ref": w}


def _trained_roles(program: A.Program, params: dict) -> set[str]:
    """The declared roles some training of the bound program trains (directly, or a version
    trained from them)."""
    root_of, out = {}, set()
    for t in taken_stmts(program.body, params):
        if isinstance(t, A.Training):
            root = root_of.get(str(t.model), str(t.model))
            out.add(root)
            if t.new_name:
                root_of[str(t.new_name)] = root
    return out


def taken_stmts(body: list, params: dict):
    """Statements in the branches of static ifs that these params take (and in loops)."""
    for st in body:
        if isinstance(st, A.StaticIf):
            try:
                cond = constant(st.cond, params)
            except EvalError:
                cond = False
            yield from taken_stmts(st.then if cond else st.orelse, params)
        else:
            yield st
            if isinstance(st, A.Repeat):
                yield from taken_stmts(st.body, params)


def _option_values(m: A.Model, kwargs: dict, options: dict, lora: dict | None) -> list[Diagnostic]:
    """E109 for a bound value (params after --set) outside its option's range or set."""
    out = []
    tables = [(m.kwargs, kwargs, BACKEND_KWARGS.get(str(m.backend), {})), (m.options, options, MODEL_OPTIONS),
              (m.lora or [], lora or {}, LORA_OPTIONS)]
    for kws, values, table in tables:
        for kw in kws:
            opt = table.get(str(kw.name))
            problem = opt.problem(values.get(str(kw.name))) if opt is not None else None
            if problem:
                out.append(error("E109", problem, kw.value.span))
    return out


def _rebind_problems(m: A.Model, spec: dict, ref: str) -> list[Diagnostic]:
    """E112 for each option declared with role ``m`` that its ``--model`` binding's backend
    cannot honour, located at the option in the program."""
    backend, out = spec["backend"], []
    bound = f" (role '{m.name}' is bound by --model to {ref})"
    for kw in m.options:
        problem = backend_problem(MODEL_OPTIONS[str(kw.name)], backend)
        if problem:
            out.append(error("E112", problem + bound, kw.name.span))
    if backend != str(m.backend):  # engine kwargs of the declared backend (reference parts are replaced)
        for kw in m.kwargs:
            opt = BACKEND_KWARGS.get(str(m.backend), {}).get(str(kw.name))
            if opt is not None and opt.kwarg is not None:
                out.append(error("E112", f"{m.backend}() option '{kw.name}' ({opt.lands}) does not apply "
                                 f"to a {backend}() model" + bound, kw.name.span))
    return out


def bind_models(program: A.Program, params: dict, overrides: dict[str, str]) -> tuple[dict, list[Diagnostic]]:
    models, diags, decls = {}, [], {}
    for m in (st for st in taken_stmts(program.body, params) if isinstance(st, A.Model)):
        try:
            ref = constant(m.args[0], params) if m.args else None
            kwargs = {str(k.name): constant(k.value, params) for k in m.kwargs}
            options = {str(k.name): constant(k.value, params) for k in m.options}
            lora = None if m.lora is None else {str(k.name): constant(k.value, params) for k in m.lora}
        except EvalError as exc:
            diags.append(error("E121", exc.reason, exc.span))
            continue
        diags += _option_values(m, kwargs, options, lora)
        decls[str(m.name)] = m
        backend = BACKENDS.get(str(m.backend))
        served = served_weights(str(m.backend), kwargs)
        trainable = m.trainable if m.trainable is not None else bool(backend and backend.trainable or served)
        models[str(m.name)] = {"backend": str(m.backend), "ref": ref, "kwargs": kwargs, "options": options,
                               "trainable": trainable, "lora": lora if (trainable and m.trainable) else
                               ({} if trainable else None), "span": str(m.span)}
        if served:
            models[str(m.name)]["weights"] = served
    where = A.Span("--model", 0, 0, 0, 0)
    for role, ref in (overrides or {}).items():
        if role not in models:
            trained = next((t for t in taken_stmts(program.body, params)
                            if isinstance(t, A.Training) and str(t.new_name or "") == role), None)
            why = (f"'{role}' is the version trained from '{trained.model}' at {trained.span.path}:"
                   f"{trained.span.line}, not a declared model; a program that can take a ready-made "
                   f"one declares it (a param that skips the training)"
                   if trained is not None else f"no model '{role}'")
            diags.append(error("E120", f"--model {role}: {why} (models: {', '.join(models)})", where))
            continue
        try:
            spec = parse_model_ref(ref)
        except ValueError as exc:
            diags.append(error("E120", mask(f"--model {role}={ref}: {exc}"), where))
            continue
        problems = _rebind_problems(decls[role], spec, ref)
        if problems:
            diags += problems
            continue
        keep = {k: models[role][k] for k in ("options", "span")}
        if spec["backend"] == models[role]["backend"]:  # the declared engine kwargs still apply
            engine = BACKEND_KWARGS.get(spec["backend"], {})
            spec["kwargs"] = {**{k: v for k, v in models[role]["kwargs"].items()
                                 if k in engine and engine[k].kwarg is not None}, **spec["kwargs"]}
        if spec["backend"] == "server" and role in _trained_roles(program, params):
            # the server serves the declared weights: a trained version's adapter, trained on
            # them, is loaded into it (docs/runtime.md)
            declared = models[role]
            weights = declared["kwargs"].get("weights") if declared["backend"] == "server" else \
                (f"embedded:{declared['ref']}" if declared["backend"] == "embedded" else
                 declared["ref"] if declared["backend"] in ("hf", "vllm") else None)
            if isinstance(weights, str) and weights:
                spec["kwargs"]["weights"] = weights
                spec["weights"] = served_weights("server", spec["kwargs"])
        b = BACKENDS[spec["backend"]]
        trainable = models[role]["trainable"] and (b.trainable or bool(spec.get("weights")))
        models[role] = {**spec, **keep, "trainable": trainable,
                        "lora": models[role]["lora"] if trainable else None}
    return models, diags


def compile_path(path: str, sets: dict[str, str] | None = None,
                 models: dict[str, str] | None = None, profile: str | None = None,
                 allow_read: tuple | list = (), keys: dict[str, str] | None = None) -> CompileResult:
    """Check, bind params (``profile``: a profile name, ``"none"``, or None for the
    program's default profile), models and keys (``--key ROLE=ENV_VAR``), and lower to the
    IR; then check every file the bound program reads against its folder, the current
    directory and ``allow_read`` (:func:`collabdsl.access.check_graph`)."""
    from collabdsl.access import ReadPolicy, bind_keys, check_graph

    result = check_path(path, allow_read, literals=False)
    if result.program is None or result.errors:
        return result
    chosen, d0 = select_profile(result.program, profile)
    result.profile = str(chosen.name) if chosen is not None else None
    result.diagnostics += d0
    if d0:
        return result
    params, d1 = bind_params(result.program, sets or {}, chosen)
    if not d1:  # the value rules (E104 thresholds, E109, E110) on the values set from outside
        origin = {str(ps.name): f"profile '{chosen.name}'" for ps in chosen.sets} if chosen is not None else {}
        origin.update({name: "--set" for name in sets or {}})
        d1 = check_bound_values(result.facts, params, origin)
    if d1:  # reported where the value is used, with where it came from; nothing binds past them
        result.diagnostics += d1
        result.params = params
        return result
    bound, d2 = bind_models(result.program, params, models or {})
    d2 += bind_keys(bound, keys)
    result.diagnostics += d1 + d2
    result.params, result.models = params, bound
    if result.errors:
        return result
    from collabdsl.lower import lower  # networkx is imported only when a graph is built

    try:
        result.graph = lower(result.program, params, bound)
    except EvalError as exc:
        result.diagnostics.append(error(exc.code, exc.reason, exc.span))
        return result
    imports = [p for p in result.sources if Path(p).resolve() != Path(path).resolve()]
    access = check_graph(result.graph, ReadPolicy.for_program(path, allow_read), imports)
    if access:
        result.diagnostics += access
        result.graph = None
    return result
