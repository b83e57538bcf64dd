"""Name resolution and facts about a linked program.

``analyze`` walks the AST once, in program order, and records facts: the symbols,
every name read (resolved or not), every field read with the schema of its data set
at that point, every call with what it calls, the types of locals. The checks in
``collabdsl.checks`` are small functions from these facts to diagnostics.
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field

from collabdsl import ast as A
from collabdsl.builtins import DATA_BUILTINS, ENUMS, FEWSHOT_COLUMN, ROW_BUILTINS
from collabdsl.vocab import KB_METHODS, MODEL_METHODS, OBJECTIVES, RESULT_FIELDS


@dataclass
class Symbol:
    name: A.Ident
    kind: str  # param model data prompt kb step eval
    node: A.Node
    imported: bool = False


@dataclass
class CallFact:
    call: A.Call
    kind: str  # model_method kb_method prompt step builtin data_builtin backend unknown
    target: Symbol | None
    method: str | None = None
    scope: str | None = None  # the step the call is written in, None outside steps


@dataclass
class FieldFact:
    attr: A.Attr
    data: str | None  # the data set whose row is read, None for a record
    schema: frozenset | None  # known columns at that point; None when open
    record: str | None = None  # result type for record reads (choice, gen, text ...)


@dataclass
class Facts:
    program: A.Program
    symbols: dict[str, Symbol] = field(default_factory=dict)
    duplicates: list[tuple[A.Ident, Symbol]] = field(default_factory=list)
    uses: dict[str, int] = field(default_factory=dict)
    undefined: list[A.Name] = field(default_factory=list)
    calls: list[CallFact] = field(default_factory=list)
    fields: list[FieldFact] = field(default_factory=list)
    compares: list[tuple[A.Compare, str, tuple]] = field(default_factory=list)  # (node, what, range)
    trainings: list[tuple[A.Training, frozenset | None, str | None]] = field(default_factory=list)
    static_conds: list[A.Expr] = field(default_factory=list)
    returns_outside: list[A.Return] = field(default_factory=list)
    data_refs: list[tuple[A.Expr, str]] = field(default_factory=list)  # (expr, what needs a data set)
    early_data: list[A.Name] = field(default_factory=list)  # data sets read before their definition
    loop_vars: set[str] = field(default_factory=set)  # `repeat ... as i` variables
    schemas: dict[str, frozenset | None] = field(default_factory=dict)  # final schema per data set
    types: dict[int, str] = field(default_factory=dict)  # id(expr) -> type tag
    filtered_model_lists: list[A.Expr] = field(default_factory=list)  # the `if` of [.. for m in [a, b] if ..]
    row_comprehension_calls: list[CallFact] = field(default_factory=list)  # model/kb/step calls in a
    #   comprehension whose iterable reads row values
    bound: dict | None = None  # after binding: the params' values (the value checks run again)
    origin: dict[str, str] = field(default_factory=dict)  # param -> "--set" or "profile NAME"

    def symbol(self, name: str) -> Symbol | None:
        return self.symbols.get(name)


def _define(facts: Facts, name: A.Ident, kind: str, node: A.Node, seen: set, imported=False):
    sym = Symbol(name, kind, node, imported)
    if name in seen:
        facts.duplicates.append((name, facts.symbols[name]))
        return
    seen.add(name)
    facts.symbols.setdefault(str(name), sym)


def collect_symbols(facts: Facts, body: list, seen: set) -> None:
    """Every global name; a name defined in both branches of a static if is one name."""
    for st in body:
        if isinstance(st, A.Import):  # left by the linker only when the import failed (E111)
            for n in st.names:
                _define(facts, n, "import", st, seen, imported=True)
        elif isinstance(st, A.Param):
            _define(facts, st.name, "param", st, seen, getattr(st, "imported", False))
        elif isinstance(st, A.Model):
            _define(facts, st.name, "model", st, seen)
        elif isinstance(st, A.Ensemble):
            _define(facts, st.name, "ensemble", st, seen)
        elif isinstance(st, A.Training) and st.new_name is not None:
            _define(facts, st.new_name, "model", st, seen)
        elif isinstance(st, A.Data):
            for n in st.names:
                _define(facts, n, "data", st, seen)
        elif isinstance(st, A.Prompt):
            _define(facts, st.name, "prompt", st, seen, getattr(st, "imported", False))
        elif isinstance(st, A.KB):
            _define(facts, st.name, "kb", st, seen)
        elif isinstance(st, A.Step):
            _define(facts, st.name, "step", st, seen, getattr(st, "imported", False))
        elif isinstance(st, A.Eval):
            _define(facts, st.name, "eval", st, seen)
        elif isinstance(st, A.Repeat):
            collect_symbols(facts, st.body, seen)
        elif isinstance(st, A.StaticIf):
            then_seen, else_seen = set(seen), set(seen)
            collect_symbols(facts, st.then, then_seen)
            collect_symbols(facts, st.orelse, else_seen)
            seen |= then_seen | else_seen



# ---------------------------------------------------------------------- the walk
@dataclass
class RowEnv:
    var: str | None  # the row variable
    data: str | None  # the data set it iterates
    locals: dict[str, str] = field(default_factory=dict)  # name -> type tag
    step_params: set[str] = field(default_factory=set)
    in_step: bool = False
    comp_vars: frozenset = frozenset()  # variables of the comprehensions around (not row values)


class Analyzer:
    def __init__(self, program: A.Program):
        self.f = Facts(program)
        self.schema: dict[str, frozenset | None] = {}
        self.column_types: dict[tuple, str] = {}  # (data, column) -> type tag of what was written
        self.loop_vars: list[str] = []  # `repeat ... as i` variables in scope
        self.defined_data: set[str] = set()  # data sets defined so far, in program order
        self.current_step: str | None = None

    # ---------------------------------------------------------------- helpers
    def use(self, name: str) -> None:
        self.f.uses[name] = self.f.uses.get(name, 0) + 1

    def derive_columns(self, source: str | None, names) -> None:
        """Data sets made from ``source`` (filter, expand, split, ...) have its column types."""
        for n in names:
            for key in [k for k in self.column_types if k[0] == str(n)]:
                del self.column_types[key]
            for (d, col), t in list(self.column_types.items()):
                if source is not None and d == source:
                    self.column_types[(str(n), col)] = t

    def write_column(self, data: str | None, col: str, t: str) -> None:
        """A column written with values of type ``t``; writes of different types make it "any"."""
        if data is None:
            return
        old = self.column_types.get((data, col))
        self.column_types[(data, col)] = t if old in (None, t) else "any"

    def add_columns(self, data: str | None, cols) -> None:
        if data is None:
            return
        cur = self.schema.get(data)
        if cur is not None:
            self.schema[data] = cur | frozenset(cols)

    # ---------------------------------------------------------------- statements
    def run(self) -> Facts:
        prog = self.f.program
        collect_symbols(self.f, prog.body, set())
        for st in prog.decls(A.Step):  # also steps inside static ifs and loops
            self.step(st)
        self.block(prog.body)
        self.f.schemas = dict(self.schema)
        return self.f

    def block(self, body: list) -> None:
        for st in body:
            self.stmt(st)

    def stmt(self, st) -> None:
        if isinstance(st, A.Param):
            self.expr(st.default, RowEnv(None, None))
        elif isinstance(st, A.Model):
            env = RowEnv(None, None)
            for e in st.args:
                self.expr(e, env)
            for kw in list(st.kwargs) + list(st.options) + list(st.lora or []):
                self.expr(kw.value, env)
        elif isinstance(st, A.Ensemble):  # its members are models (checks.check_ensembles)
            for m in st.members:
                if self.f.symbol(str(m)) is None:
                    self.f.undefined.append(A.Name(m.span, m))
                else:
                    self.use(str(m))
        elif isinstance(st, A.Training):
            self.training(st)
        elif isinstance(st, A.Data):
            self.data(st)
        elif isinstance(st, A.ForEach):
            data = self.data_ref(st.source, "a for block")
            env = RowEnv(str(st.var), data)
            self.row_block(st.body, env)
        elif isinstance(st, A.Repeat):
            env = RowEnv(None, None)
            for e in (st.count, st.max):
                if e is not None:
                    self.expr(e, env)
            if st.var is not None:
                self.loop_vars.append(str(st.var))
                self.f.loop_vars.add(str(st.var))
            self.block(st.body)
            if st.until is not None:  # tested after each iteration: sees the body's data sets
                self.expr(st.until, env)
            if st.var is not None:
                self.loop_vars.pop()
        elif isinstance(st, A.StaticIf):
            self.f.static_conds.append(st.cond)
            self.expr(st.cond, RowEnv(None, None))
            saved = dict(self.schema)
            self.block(st.then)
            after_then = self.schema
            self.schema = dict(saved)
            self.block(st.orelse)
            for k, v in after_then.items():  # a column written in either branch may exist
                cur = self.schema.get(k)
                self.schema[k] = None if (v is None or cur is None) else (v | cur)
        elif isinstance(st, A.Eval):
            data = self.data_ref(st.source, "an eval")
            env = RowEnv(str(st.var), data)
            if st.gold is not None:
                self.expr(st.gold, env)
            for s in st.systems:
                self.expr(s.expr, env)
                if s.when is not None:
                    self.f.static_conds.append(s.when)
                    self.expr(s.when, RowEnv(None, None))
            for d in st.derived:  # table level: system("label") and params (checks.check_eval)
                for n in d.expr.walk():
                    if isinstance(n, A.Name) and self.f.symbol(str(n.id)) is not None:
                        self.use(str(n.id))
                if d.when is not None:
                    self.f.static_conds.append(d.when)
                    self.expr(d.when, RowEnv(None, None))

    def step(self, st: A.Step) -> None:
        env = RowEnv(None, None, in_step=True)
        env.step_params = {str(p) for p in st.params}
        self.current_step = str(st.name)
        self.row_block(st.body, env)
        self.current_step = None

    def data_use(self, e: A.Expr, what: str) -> None:
        """``e`` must name a data set (for ``what``), defined earlier in the program."""
        self.f.data_refs.append((e, what))
        if isinstance(e, A.Name) and str(e.id) not in self.defined_data:
            sym = self.f.symbol(str(e.id))
            if sym is not None and sym.kind == "data":
                self.f.early_data.append(e)

    def data_ref(self, e: A.Expr, what: str) -> str | None:
        """An expression that must name a data set (``what`` needs it); returns the name."""
        self.data_use(e, what)
        self.expr(e, RowEnv(None, None))
        if isinstance(e, A.Name):
            return str(e.id)
        return None

    def data(self, st: A.Data) -> None:
        src = st.source
        if isinstance(src, A.Filter):
            data = self.data_ref(src.source, "a filter")
            self.expr(src.cond, RowEnv(str(src.var), data))
            schema = self.schema.get(data) if data else None
        elif isinstance(src, A.Expand):
            data = self.data_ref(src.source, "an expand")
            outer = RowEnv(str(src.var), data)
            self.expr(src.items, outer)
            inner = RowEnv(str(src.var), str(st.names[0]))
            inner.locals[str(src.item)] = "any"
            self.schema[str(st.names[0])] = self.schema.get(data) if data else None
            self.derive_columns(data, st.names[:1])
            self.defined_data.update(str(n) for n in st.names)
            self.row_block(src.body, inner)
            return
        else:
            schema = self.source_schema(src)
            data = _source_name(src)
        self.derive_columns(data, st.names)
        if isinstance(src, A.Call) and src.fname == "fewshot":
            for n in st.names:
                self.column_types[(str(n), FEWSHOT_COLUMN)] = "list"
        self.defined_data.update(str(n) for n in st.names)
        for n in st.names:
            self.schema[str(n)] = schema

    def source_schema(self, e: A.Expr) -> frozenset | None:
        env = RowEnv(None, None)
        if not (isinstance(e, A.Call) and e.fname in DATA_BUILTINS and DATA_BUILTINS[e.fname].returns
                in ("data", "data2")):
            self.data_use(e, "a data declaration")
        self.expr(e, env)
        if isinstance(e, A.Name):
            return self.schema.get(str(e.id))
        if isinstance(e, A.Call) and e.fname in DATA_BUILTINS:
            name = e.fname
            if name == "load":
                cols = e.kwarg("columns")
                att = e.kwarg("attach")
                extra = frozenset(str(k) for k in att.keys) if isinstance(att, A.DictLit) else frozenset()
                tmpl = e.kwarg("templates")  # built columns are kept (collabdsl.loadmap)
                extra |= frozenset(str(k) for k in tmpl.keys) if isinstance(tmpl, A.DictLit) else frozenset()
                if e.kwarg("options") is not None and not isinstance(e.kwarg("options"), A.NoneLit):
                    extra |= {"options"}
                if isinstance(cols, A.DictLit):
                    return frozenset(str(k) for k in cols.keys) | extra
                src = e.args[0] if e.args else None
                if isinstance(src, A.Str) and src.value.startswith("builtin:"):
                    base = _builtin_schema(src.value[len("builtin:"):])
                    return base | extra if base is not None else None
                return None
            if e.args and isinstance(e.args[0], A.Name):
                first = self.schema.get(str(e.args[0].id))
                if name == "concat":
                    schemas = [self.schema.get(str(a.id)) for a in e.args if isinstance(a, A.Name)]
                    if any(s is None for s in schemas) or not schemas:
                        return None
                    out = schemas[0]
                    for s in schemas[1:]:
                        out = out & s
                    return out
                if name == "fewshot":  # the rows with their draws
                    return None if first is None else first | {FEWSHOT_COLUMN}
                return first
        return None

    def training(self, st: A.Training) -> None:
        model = self.f.symbol(str(st.model))
        self.use(str(st.model))
        if model is None:
            self.f.undefined.append(A.Name(st.model.span, st.model))
        data = self.data_ref(st.source, "a training")
        env = RowEnv(str(st.var), data)
        for kw in st.entries:
            self.expr(kw.value, env)
        self.f.trainings.append((st, self.schema.get(data) if data else None, data))

    # ---------------------------------------------------------------- rows
    def row_block(self, body: list, env: RowEnv) -> None:
        for st in body:
            if isinstance(st, A.Assign):
                t = self.expr(st.value, env)
                if st.var is None:
                    env.locals[str(st.name)] = t
                else:
                    if env.var is None or st.var != env.var:
                        if str(st.var) not in env.step_params:
                            self.f.undefined.append(A.Name(st.var.span, st.var))
                    else:
                        self.add_columns(env.data, [str(st.name)])
                        self.write_column(env.data, str(st.name), t)
                        env.locals.pop(f"{env.var}.{st.name}", None)
                        self.f.types[id(st)] = t
            elif isinstance(st, A.Gate):
                self.expr(st.cond, env)
                then_env = RowEnv(env.var, env.data, dict(env.locals), env.step_params, env.in_step)
                self.row_block(st.then, then_env)
                else_env = RowEnv(env.var, env.data, dict(env.locals), env.step_params, env.in_step)
                self.row_block(st.orelse, else_env)
                for name in set(then_env.locals) & set(else_env.locals):
                    env.locals[name] = then_env.locals[name]
            elif isinstance(st, A.Return):
                if not env.in_step:
                    self.f.returns_outside.append(st)
                self.expr(st.value, env)
            elif isinstance(st, A.CallStmt):
                self.expr(st.call, env)

    # ---------------------------------------------------------------- expressions
    def expr(self, e, env: RowEnv) -> str:
        t = self._expr(e, env)
        if e is not None:
            self.f.types[id(e)] = t
        return t

    def _expr(self, e, env: RowEnv) -> str:
        if e is None:
            return "none"
        if isinstance(e, A.Num):
            return "number"
        if isinstance(e, A.Str):
            return "text"
        if isinstance(e, A.Bool):
            return "bool"
        if isinstance(e, A.NoneLit):
            return "none"
        if isinstance(e, A.Name):
            return self.name(e, env)
        if isinstance(e, A.Attr):
            return self.attr(e, env)
        if isinstance(e, A.Call):
            return self.call(e, env)
        if isinstance(e, A.Index):
            self.expr(e.obj, env)
            self.expr(e.index, env)
            return "any"
        if isinstance(e, A.BinOp):
            lt, rt = self.expr(e.left, env), self.expr(e.right, env)
            return "text" if "text" in (lt, rt) and e.op == "+" else "number"
        if isinstance(e, A.Compare):
            lt, rt = self.expr(e.left, env), self.expr(e.right, env)
            self.compare_fact(e, env)
            return "bool"
        if isinstance(e, (A.And, A.Or)):
            self.expr(e.left, env)
            self.expr(e.right, env)
            return "bool"
        if isinstance(e, A.Not):
            self.expr(e.operand, env)
            return "bool"
        if isinstance(e, A.Neg):
            self.expr(e.operand, env)
            return "number"
        if isinstance(e, A.ListLit):
            for i in e.items:
                self.expr(i, env)
            return "list"
        if isinstance(e, A.ListComp):
            self.expr(e.iterable, env)
            first = len(self.f.calls)
            var = str(e.var)
            inner = dataclasses.replace(env, locals={**env.locals, var: "any"}, comp_vars=env.comp_vars | {var})
            self.expr(e.elem, inner)
            if e.cond is not None:
                self.expr(e.cond, inner)
            # over row values, or kept by a condition on row values: evaluated row by row
            if _reads_row(e.iterable, env) or (e.cond is not None and _reads_row(e.cond, inner)):
                self.f.row_comprehension_calls += [c for c in self.f.calls[first:]
                                                   if c.kind in ("model_method", "kb_method", "step")]
            if e.cond is not None and _lists_models(self.f, e.iterable):
                self.f.filtered_model_lists.append(e.cond)
            return "list"
        if isinstance(e, A.DictLit):
            for v in e.values:
                self.expr(v, env)
            return "dict"
        if isinstance(e, A.Range):
            self.expr(e.lo, env)
            self.expr(e.hi, env)
            return "range"
        return "any"

    def name(self, e: A.Name, env: RowEnv) -> str:
        n = str(e.id)
        if env.var is not None and n == env.var:
            return "row"
        if n in env.locals:
            return env.locals[n]
        if n in env.step_params:
            return "any"
        if n in self.loop_vars:
            return "number"
        sym = self.f.symbol(n)
        if sym is None:
            self.f.undefined.append(e)
            return "any"
        self.use(n)
        return sym.kind if sym.kind != "import" else "any"

    def attr(self, e: A.Attr, env: RowEnv) -> str:
        if isinstance(e.obj, A.Name) and env.var is not None and str(e.obj.id) == env.var:
            data = env.data
            schema = self.schema.get(data) if data else None
            if data is None and env.in_step:
                schema = None
            self.f.fields.append(FieldFact(e, data, schema))
            return self.column_types.get((data, str(e.name)), "any") if data else "any"
        t = self.expr(e.obj, env)
        if t in RESULT_FIELDS or t == "text":
            self.f.fields.append(FieldFact(e, None, None, record=t))
            return {"confidence": "number", "probs": "list", "index": "number"}.get(str(e.name), "text")
        return "any"

    def call(self, e: A.Call, env: RowEnv) -> str:
        for a in e.args:
            self.expr(a, env)
        for kw in e.kwargs:
            if kw.name in ENUMS and isinstance(kw.value, A.Name) and kw.value.id in ENUMS[kw.name]:
                self.f.types[id(kw.value)] = "enum"
                continue
            self.expr(kw.value, env)
        method = e.method
        if method is not None:
            recv, name = method
            if env.var is not None and recv == env.var or recv in env.locals:
                self.f.calls.append(CallFact(e, "unknown", None, name))
                return "any"
            if recv in env.step_params:  # a model (or a kb) passed to a step
                if name in KB_METHODS and name not in MODEL_METHODS:
                    self.f.calls.append(CallFact(e, "kb_method", None, name))
                    return "text" if name == "retrieve" else "none"
                self.f.calls.append(CallFact(e, "model_method", None, name))
                return _method_type(name, e)
            sym = self.f.symbol(recv)
            if sym is None:
                self.f.undefined.append(A.Name(e.func.obj.span, e.func.obj.id))
                return "any"
            self.use(recv)
            if sym.kind == "import":  # its definition could not be imported (E111)
                return "any"
            if sym.kind == "model":
                self.f.calls.append(CallFact(e, "model_method", sym, name))
                return _method_type(name, e)
            if sym.kind == "kb":
                self.f.calls.append(CallFact(e, "kb_method", sym, name))
                return "text" if name == "retrieve" else "none"
            self.f.calls.append(CallFact(e, "unknown", sym, name))
            return "any"
        if isinstance(e.func, A.Name):
            n = str(e.func.id)
            if n in env.locals or n in env.step_params:
                self.f.calls.append(CallFact(e, "unknown", None, n))
                return "any"
            sym = self.f.symbol(n)
            if sym is not None:
                self.use(n)
                if sym.kind == "import":  # its definition could not be imported (E111)
                    return "any"
                if sym.kind == "prompt":
                    self.f.calls.append(CallFact(e, "prompt", sym))
                    return "text"
                if sym.kind == "step":
                    self.f.calls.append(CallFact(e, "step", sym, scope=self.current_step))
                    return _step_type(sym.node)
                self.f.calls.append(CallFact(e, "unknown", sym))
                return "any"
            # count(D) counts a data set's rows, count(list, value) a row's list: by arity
            if n in ROW_BUILTINS and not (n in DATA_BUILTINS and len(e.args) < ROW_BUILTINS[n].min_args):
                self.f.calls.append(CallFact(e, "builtin", None, n))
                return ROW_BUILTINS[n].returns
            if n in DATA_BUILTINS:
                for a in (e.args if n == "concat" else e.args[:1] if n != "load" else []):
                    self.data_use(a, f"{n}()")
                self.f.calls.append(CallFact(e, "data_builtin", None, n))
                return DATA_BUILTINS[n].returns
            self.f.undefined.append(e.func)
            return "any"
        self.expr(e.func, env)
        self.f.calls.append(CallFact(e, "unknown", None))
        return "any"

    def compare_fact(self, e: A.Compare, env: RowEnv) -> None:
        """Record comparisons of a confidence or a score with a number."""
        for side, other in ((e.left, e.right), (e.right, e.left)):
            what = self.f.types.get(id(side))
            if isinstance(side, A.Attr) and str(side.name) == "confidence":
                self.f.compares.append((e, "confidence", (0.0, 1.0), other))
            elif what and what.startswith("score:"):
                lo, hi = what[len("score:"):].split(",")
                self.f.compares.append((e, "score", (float(lo), float(hi)), other))


def _lists_models(f: Facts, e: A.Expr) -> bool:
    """A literal list of models, or an ensemble's name (``model team = [a, b]``)."""
    def kind(name) -> str | None:
        sym = f.symbol(str(name))
        return sym.kind if sym is not None else None

    if isinstance(e, A.Name):
        return kind(e.id) == "ensemble"
    return isinstance(e, A.ListLit) and bool(e.items) and all(
        isinstance(i, A.Name) and kind(i.id) == "model" for i in e.items)


def _reads_row(e: A.Expr, env: RowEnv) -> bool:
    """Whether an expression reads the row variable or a row-level local (its value is only
    known row by row; a comprehension variable over a param-constant iterable is not)."""
    for n in e.walk():
        if isinstance(n, A.Name):
            name = str(n.id)
            if name == env.var or (name in env.locals and name not in env.comp_vars):
                return True
    return False


def _source_name(e) -> str | None:
    """The data set a data declaration copies or derives from (alias, split, take, shuffle)."""
    if isinstance(e, A.Name):
        return str(e.id)
    if isinstance(e, A.Call) and e.fname in ("split", "take", "shuffle", "fewshot") and e.args \
            and isinstance(e.args[0], A.Name):
        return str(e.args[0].id)
    return None


def _method_type(name: str, call: A.Call) -> str:
    if name == "generate":
        return "gen" if call.kwarg("confidence") is not None else "text"
    if name == "choose":
        return "choice"
    if name == "score":
        rng = call.kwarg("range")
        if isinstance(rng, A.Range) and isinstance(rng.lo, A.Num) and isinstance(rng.hi, A.Num):
            return f"score:{rng.lo.value},{rng.hi.value}"
        return "number"
    return MODEL_METHODS[name].returns if name in MODEL_METHODS else "any"


def _step_type(step: A.Step) -> str:
    """The result type of a step: that of its returns when they all return the same kind of
    model call, else "any"."""
    types = set()
    for st in A.iter_row_stmts(step.body):
        if isinstance(st, A.Return):
            v = st.value
            if not (isinstance(v, A.Call) and v.method and v.method[1] in MODEL_METHODS):
                return "any"
            types.add(_method_type(v.method[1], v))
    return types.pop() if len(types) == 1 else "any"


def _builtin_schema(name: str) -> frozenset | None:
    """Columns of a data set the project ships, from its index (runtime.data imports
    nothing heavy); None for an unknown name, which the run reports."""
    from runtime.data import DataError, builtin_schema

    try:
        return frozenset(builtin_schema(name))
    except DataError:
        return None


def analyze(program: A.Program) -> Facts:
    return Analyzer(program).run()


__all__ = ["analyze", "Facts", "Symbol", "CallFact", "FieldFact", "OBJECTIVES", "KB_METHODS"]
