"""AST -> IR. Per-row code is put in A-normal form: every model call, retrieval and
gate becomes a node that writes one column; what is left are pure expressions over
columns and params, evaluated row by row by ``collabdsl.evaluate``. Steps are inlined
at each call, so their model calls batch with the rest of the block.
See ``collabdsl.ir`` for the graph's contract.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import networkx as nx

from collabdsl import ast as A
from collabdsl.evaluate import (MAX_OPERATIONS, ROW_COMPREHENSION_CALL, EvalError, comprehension_items, constant,
                                too_many_operations)
from collabdsl.ir import MODEL_OPS
from collabdsl.options import (LORA_TRAIN_OPTIONS, METHOD_OPTIONS, MODEL_OPTIONS, TRAIN_OPTIONS, backend_problem,
                               train_conflicts)
from collabdsl.unparse import unparse


@dataclass
class RowCtx:
    data: str
    var: str
    prefix: str  # namespace of hidden columns for this block / inlined step
    locals: dict[str, str] = field(default_factory=dict)  # local name -> column
    subst: dict[str, A.Expr] = field(default_factory=dict)  # step params -> pure exprs
    models: dict[str, str] = field(default_factory=dict)  # step params bound to model roles
    when: tuple[str, ...] = ()
    ret: str | None = None  # return column of an inlined step


def _rebuild(e, fn):
    """Copy of ``e`` with ``fn`` applied to each direct child expression."""
    if not isinstance(e, A.Node):
        return e
    changes = {}
    for f in dataclasses.fields(e):
        v = getattr(e, f.name)
        if isinstance(v, A.Expr):
            changes[f.name] = fn(v)
        elif isinstance(v, list) and v and isinstance(v[0], (A.Expr, A.KwArg)):
            changes[f.name] = [A.KwArg(k.span, k.name, fn(k.value)) if isinstance(k, A.KwArg) else fn(k)
                               for k in v]
    return dataclasses.replace(e, **changes) if changes else e


def _literal(v, span):
    if isinstance(v, bool):
        return A.Bool(span, v)
    if isinstance(v, (int, float)):
        return A.Num(span, v)
    if isinstance(v, str):
        return A.Str(span, v)
    if v is None:
        return A.NoneLit(span)
    if isinstance(v, (list, tuple)):
        return A.ListLit(span, [_literal(x, span) for x in v])
    raise EvalError(f"cannot iterate over a {type(v).__name__} here", span)


def reads_of(e, var: str) -> list[str]:
    """Columns of the row ``var`` that a pure expression reads ("*" for the whole row)."""
    cols = []
    if e is None:
        return cols
    for node in e.walk():
        if isinstance(node, A.Attr) and isinstance(node.obj, A.Name) and str(node.obj.id) == var:
            cols.append(str(node.name))
    whole = [n for n in e.walk() if isinstance(n, A.Name) and str(n.id) == var]
    attrs = [n for n in e.walk() if isinstance(n, A.Attr) and isinstance(n.obj, A.Name) and str(n.obj.id) == var]
    if len(whole) > len(attrs):
        cols.append("*")
    return sorted(set(cols))


class Lowerer:
    def __init__(self, program: A.Program, params: dict, models: dict):
        self.p = program
        self.params = params
        self.G = nx.DiGraph()
        self.n = 0
        self.order: list[str] = []
        self.user_columns: set[str] = set()  # columns the program names (x.name = ...)
        self.parents: list[str | None] = [None]
        # (data, column) -> nodes that wrote it (several when written under different gates);
        # (data, None) -> the node that made the data set; ("kb", name) -> last writer of a kb
        self.writers: dict[tuple, list[str]] = {}
        self.version: dict[str, str | None] = {role: None for role in models}
        self.uses: dict[str, list[str]] = {}  # model role -> model ops since its last training
        self.expanding: list[tuple[str, A.Span]] = []  # step calls and unrolled comprehensions being lowered
        self.adapter: dict[str, bool] = {}  # model role -> its current version is a LoRA adapter
        self.option_spans: dict[str, dict[str, A.Span]] = {}  # train node -> {option: span}
        live = list(self.live(program.body))  # a prompt or step may differ between static-if branches
        self.declared = {str(m.name): str(m.backend) for m in live if isinstance(m, A.Model)}
        self.prompts = {str(p.name): {"slots": [str(s) for s in p.slots], "template": p.template}
                        for p in live if isinstance(p, A.Prompt)}
        self.steps = {str(s.name): s for s in live if isinstance(s, A.Step)}
        self.kinds = {str(m.name): "model" for m in program.decls(A.Model)}
        self.kinds.update({str(t.new_name): "model" for t in program.decls(A.Training) if t.new_name})
        self.kinds.update({str(k.name): "kb" for k in program.decls(A.KB)})
        self.ensembles = {str(e.name): [str(m) for m in e.members] for e in live if isinstance(e, A.Ensemble)}
        self.G.graph.update(name=str(program.header.name) if program.header else "",
                            description=program.header.description if program.header else "",
                            path=program.path, params=params, models=models, prompts=self.prompts,
                            kbs=[str(k.name) for k in program.decls(A.KB)],
                            ablations={str(p.name): p.ablation for p in program.decls(A.Param)
                                       if p.ablation is not None})

    # ------------------------------------------------------------------ nodes
    def node(self, kind: str, label: str, span: A.Span, *, data=None, model=None, reads=(), out=None,
             when=(), expr=None, options=None, sources=()) -> str:
        if self.n >= MAX_OPERATIONS:  # the checker's estimate (E129) is the first line of defence
            what, where = self.expanding[0] if self.expanding else ("the program", span)
            raise EvalError(too_many_operations(what), where, "E129")
        nid = f"n{self.n}"
        self.n += 1
        parent = self.parents[-1]
        version = self.version.get(model) if model else None
        self.G.add_node(nid, kind=kind, label=label, span=f"{span.path}:{span.line}:{span.col}",
                        parent=parent, data=data, model=model, version=version, reads=list(reads),
                        out=out, when=list(when), expr=expr, options=options or {})
        self.order.append(nid)
        if data is not None:  # every row op waits for its data set to exist
            for src in self.writers.get((data, None), ()):
                self.edge(src, nid, "data", data)
        for col in reads:
            for src in self.writers.get((data, col)) or self.writers.get((data, None)) or ():
                self.edge(src, nid, "data", col if col != "*" else data)
        for g in when:
            for src in self.writers.get((data, g.lstrip("!")), ()):
                self.edge(src, nid, "data", g.lstrip("!"))
        if kind in ("filter", "expand") and data is not None:
            sources = tuple(sources) + (data,)
        for src_data in sources:  # data sets read whole: their rows with every column so far
            for (d, col), srcs in list(self.writers.items()):
                if d == src_data:
                    for src in srcs:
                        self.edge(src, nid, "data", src_data if col is None else f"{src_data}.{col}")
        if version:
            self.edge(version, nid, "version", model)
        if model and kind in MODEL_OPS:
            self.uses.setdefault(model, []).append(nid)
        elif kind == "train":
            # a training must wait for every earlier use of the version it replaces
            for use in self.uses.pop(model, []):
                self.edge(use, nid, "order", model)
        return nid

    def edge(self, src: str, dst: str, kind: str, label: str) -> None:
        if src == dst:
            return
        self.G.add_edge(src, dst, kind=kind, label=label)
        # twin edges into every enclosing loop of dst that does not contain src
        src_loops = set(self._loops_of(src))
        for loop in self._loops_of(dst):
            if loop not in src_loops and loop != src:
                self.G.add_edge(src, loop, kind=kind, label=label, twin=True)

    def _loops_of(self, nid: str) -> list[str]:
        out, cur = [], self.G.nodes[nid].get("parent") if nid in self.G else None
        while cur:
            out.append(cur)
            cur = self.G.nodes[cur].get("parent")
        return out

    def wrote(self, data, col, nid: str, when) -> None:
        """Record ``nid`` as a writer of ``col``: under a gate it adds to the writers."""
        if when and (data, col) in self.writers:
            self.writers[(data, col)] = self.writers[(data, col)] + [nid]
        else:
            self.writers[(data, col)] = [nid]

    def const(self, e, default=None):
        return constant(e, self.params, default)

    def live(self, body):
        """The statements of ``body`` that run: static ifs decided, loop bodies included."""
        for st in body:
            if isinstance(st, A.StaticIf):
                yield from self.live(st.then if self.const(st.cond) else st.orelse)
            else:
                yield st
                if isinstance(st, A.Repeat):
                    yield from self.live(st.body)

    # ------------------------------------------------------------------ program
    def lower(self) -> nx.DiGraph:
        self.block(self.p.body)
        self.G.graph["order"] = self.order
        self.G.graph["hidden"] = self.hidden_columns()
        return self.G

    def hidden_columns(self) -> list[str]:
        """The columns made up here (model results, locals, gates, eval systems, expand
        items): their names carry this lowering's counter, so they mean nothing outside
        this graph (the runtime names them by what writes them)."""
        row_ops = ("compute", "gate", "retrieve") + MODEL_OPS
        cols = set()
        for n in self.order:
            a = self.G.nodes[n]
            if a["kind"] in row_ops and isinstance(a["out"], str):
                cols.add(a["out"])
            if a["kind"] == "expand":
                cols.add(a["options"]["item"])
        return sorted(cols - self.user_columns)

    def block(self, body) -> None:
        for st in body:
            self.stmt(st)

    def stmt(self, st) -> None:
        if isinstance(st, A.Data):
            self.data(st)
        elif isinstance(st, A.ForEach):
            ctx = RowCtx(self.data_name(st.source), str(st.var), prefix=f"_b{self.n}_")
            self.row_block(st.body, ctx)
        elif isinstance(st, A.Training):
            self.training(st)
        elif isinstance(st, A.Repeat):
            self.loop(st)
        elif isinstance(st, A.StaticIf):
            self.block(st.then if self.const(st.cond) else st.orelse)
        elif isinstance(st, A.Eval):
            self.eval(st)
        elif isinstance(st, A.KB):
            self.writers[("kb", str(st.name))] = []

    def data_name(self, e) -> str:
        if isinstance(e, A.Name):
            return str(e.id)
        raise EvalError("expected the name of a data set", e.span)  # the checker says so first (E117)

    def data(self, st: A.Data) -> None:
        src = st.source
        names = [str(n) for n in st.names]
        if isinstance(src, A.Filter):
            data = self.data_name(src.source)
            ctx = RowCtx(data, str(src.var), prefix=f"_f{self.n}_")
            cond = self.pure(src.cond, ctx)
            nid = self.node("filter", f"{names[0]} = {data} where ...", st.span, data=data,
                            reads=reads_of(cond, ctx.var), out=names[0], expr={"cond": cond, "var": ctx.var})
        elif isinstance(src, A.Expand):
            data = self.data_name(src.source)
            ctx = RowCtx(data, str(src.var), prefix=f"_e{self.n}_")
            items = self.pure(src.items, ctx)
            item_col = f"_item{self.n}"
            nid = self.node("expand", f"{names[0]} = expand {data}", st.span, data=data,
                            reads=reads_of(items, ctx.var), out=names[0],
                            expr={"items": items, "var": ctx.var}, options={"item": item_col})
            self._forget(names[0])
            self.writers[(names[0], None)] = [nid]
            inner = RowCtx(names[0], str(src.var), prefix=f"_e{self.n}_", locals={str(src.item): item_col})
            self.row_block(src.body, inner)
            return
        elif isinstance(src, A.Call) and src.fname in ("load", "split", "concat", "take", "shuffle", "fewshot"):
            nid = self.data_call(src, names, st.span)
        else:  # an alias: a copy of another data set
            nid = self.node("concat", f"{names[0]} = {self.data_name(src)}", st.span,
                            data=self.data_name(src), out=names, sources=[self.data_name(src)])
        for n in names:
            self._forget(n)
            self.writers[(n, None)] = [nid]

    def _forget(self, data: str) -> None:
        for key in [k for k in self.writers if k[0] == data]:
            del self.writers[key]

    def data_call(self, call: A.Call, names: list[str], span) -> str:
        kind = call.fname
        opts = {str(k.name): self.const(k.value) for k in call.kwargs}
        if kind == "load":
            opts["source"] = self.const(call.args[0])
            label = f"load {opts['source']}" + (f" [{opts['split']}]" if opts.get("split") else "")
            return self.node("load", label, span, out=names[0], options=opts)
        inputs = [self.data_name(a) for a in call.args if isinstance(a, A.Name)]
        if kind == "split":
            opts["ratio"] = self.const(call.args[1])
            label = f"split {inputs[0]} {opts['ratio']}"
        elif kind == "take":
            opts["n"] = self.const(call.args[1])
            inputs = inputs[:1]
            label = f"take {opts['n']} of {inputs[0]}"
        elif kind == "fewshot":
            opts["k"] = self.const(call.args[1])
            if not isinstance(opts["k"], int) or isinstance(opts["k"], bool) or opts["k"] < 0:
                raise EvalError(f"fewshot() draws a whole number >= 0 of rows, got {opts['k']!r}",
                                call.args[1].span, "E109")
            inputs = inputs[:1]
            label = f"fewshot {opts['k']} of {inputs[0]}"
        else:
            label = f"{kind} {', '.join(inputs)}"
        opts["inputs"] = inputs
        return self.node(kind, label, span, data=inputs[0] if inputs else None, out=names,
                         options=opts, sources=inputs)

    def training(self, st: A.Training) -> None:
        data = self.data_name(st.source)
        ctx = RowCtx(data, str(st.var), prefix=f"_t{self.n}_")
        entries, options, reads, spans = {}, {}, set(), {}
        for kw in st.entries:
            name = str(kw.name)
            opt = TRAIN_OPTIONS.get(name)
            if opt is not None:  # an option: a value known before the run (the objective's: checked)
                value = self.const(kw.value)
                problem = opt.problem(value)
                if problem:
                    raise EvalError(problem, kw.value.span, "E109")
                options[name], spans[name] = opt.value(value), kw.name.span
            else:
                entries[name] = self.pure(kw.value, ctx)
                reads.update(reads_of(entries[name], ctx.var))
        options = {k: v for k, v in options.items() if v is not None}  # none: the default
        for name, message in train_conflicts(options):
            raise EvalError(message, spans[name], "E112")
        role = str(st.model)
        out = str(st.new_name) if st.new_name else role
        spec = self.G.graph["models"].get(role, {})
        if spec.get("trainable") is False:  # declared trainable, rebound by --model (else E105/E106)
            raise EvalError(f"model '{role}' is trained here but is bound to {spec.get('backend')}(), "
                            "which cannot be trained: bind it to local weights (embedded, hf, gguf, vllm)"
                            + (", or to a server whose weights are known (server(..., weights: W), or "
                               "--model on a role declared with local weights)" if spec.get("backend") ==
                               "server" else ""), st.model.span)
        lora = options["full"] is False if "full" in options else spec.get("lora") is not None
        if not lora and spec.get("backend") == "server":
            raise EvalError(f"'{role}' is served by server() ({spec.get('ref')}): a training of it makes a LoRA "
                            "adapter, which the server loads at run time; full fine-tuning would make a model "
                            "the server does not serve" + (" (remove full: true)" if "full" in options else
                                                           " (the role is declared `trainable full`)"),
                            spans.get("full", st.model.span), "E112")
        if self.version.get(role) is not None and self.adapter.get(role) and not options.get("restart"):
            self._continues_adapter(role, options, spans, f"the adapter trained at line "
                                    f"{self.G.nodes[self.version[role]]['span'].rsplit(':', 2)[1]}")
        elif not lora:
            for name in LORA_TRAIN_OPTIONS:
                if name in options:
                    raise EvalError(f"'{name}' sets a LoRA adapter, but '{role}' is declared `trainable full`: "
                                    "this training updates all weights (add full: false for an adapter)",
                                    spans[name], "E112")
        options["objective"] = str(st.objective)
        nid = self.node("train", f"train {role} {st.objective}" + (f" -> {out}" if out != role else ""),
                        st.span, data=data, model=role, reads=sorted(reads), out=out,
                        expr={"entries": entries, "var": ctx.var}, options=options)
        self.option_spans[nid] = spans
        self.version[out] = nid
        self.adapter[out] = lora
        self.G.graph["models"].setdefault(out, {**self.G.graph["models"].get(role, {}), "derived_from": role})

    @staticmethod
    def _continues_adapter(role: str, options: dict, spans: dict, what: str) -> None:
        """A training that continues a LoRA adapter keeps that adapter's settings and cannot
        switch to full fine-tuning: the options that would say otherwise are errors."""
        for name in LORA_TRAIN_OPTIONS:
            if name in options:
                raise EvalError(f"'{name}' cannot apply: this training of '{role}' continues {what}, which "
                                "keeps its rank, alpha and dropout (set them on the first training of the "
                                "role or in its declaration, trainable lora(...))", spans[name], "E112")
        if options.get("full") is True:
            raise EvalError(f"full: true cannot apply: this training of '{role}' continues {what} (a LoRA "
                            "adapter); train all weights from the first training of the role instead",
                            spans["full"], "E112")

    def loop(self, st: A.Repeat) -> None:
        opts = {"var": str(st.var) if st.var else None}
        if st.count is not None:
            opts["count"] = self.const(st.count)
            label = f"repeat {opts['count']}"
        else:
            opts["until"] = st.until
            opts["max"] = self.const(st.max)
            label = f"repeat until ... (max {opts['max']})"
            if st.rows_left:  # a per-row loop: the runtime reports its rows still active per round
                opts["rows_left"] = st.rows_left
                work = st.body[0]
                label = f"repeat for {work.var} in {unparse(work.source)} until ... (max {opts['max']})"
        # the data sets `until` counts that exist before the loop: it waits for them (the
        # ones the body rebinds are the body's own, computed before the condition is tested)
        known = {d for d, _ in self.writers}
        counted = sorted({str(n.id) for n in st.until.walk() if isinstance(n, A.Name)} & known) \
            if st.until is not None else []
        nid = self.node("loop", label, st.span, options=opts, sources=counted)
        self.parents.append(nid)
        self.block(st.body)
        self.parents.pop()
        body = [n for n in self.order if self.G.nodes[n]["parent"] == nid]
        carried = sorted({self.G.nodes[n]["out"] for n in self.order
                          if nid in self._loops_of(n) and self.G.nodes[n]["kind"] == "train"} |
                         {o for n in self.order if self.G.nodes[n]["parent"] == nid
                          and self.G.nodes[n]["kind"] in ("load", "split", "concat", "take", "shuffle",
                                                          "fewshot", "filter", "expand")
                          for o in (self.G.nodes[n]["out"] if isinstance(self.G.nodes[n]["out"], list)
                                    else [self.G.nodes[n]["out"]])})
        self.G.nodes[nid]["body"] = body
        self.G.nodes[nid]["carried"] = carried
        for n in self.order:  # from the second iteration on, a retrained role continues its version
            a = self.G.nodes[n]
            if a["kind"] == "train" and nid in self._loops_of(n) and a["model"] in carried \
                    and self.adapter.get(a["model"]) and not a["options"].get("restart"):
                self._continues_adapter(a["model"], a["options"], self.option_spans[n],
                                        "the adapter trained by the loop's previous iteration")

    def eval(self, st: A.Eval) -> None:
        data = self.data_name(st.source)
        ctx = RowCtx(data, str(st.var), prefix=f"_v{self.n}_")
        systems = []
        for s in st.systems:
            if s.when is not None and not self.const(s.when):
                continue
            col = f"_sys{self.n}"
            self.assign_col(col, s.expr, ctx, s.span)
            systems.append({"label": s.label, "column": col, "span": str(s.span)})
        gold_col = None
        if st.gold is not None:
            gold_col = f"_gold{self.n}"
            self.assign_col(gold_col, st.gold, ctx, st.span)
        for s in systems:  # gated retrievals feeding a system: it reports their rate
            s["retrievals"] = self.retrievals_feeding(data, s["column"])
        reads = [s["column"] for s in systems] + ([gold_col] if gold_col else [])
        derived = [{"label": d.label, "expr": d.expr, "span": str(d.span)} for d in st.derived
                   if d.when is None or self.const(d.when)]
        self.node("eval", f"eval {st.name}", st.span, data=data, reads=reads, out=str(st.name),
                  options={"name": str(st.name), "metrics": [str(m) for m in st.metrics],
                           "systems": systems, "gold": gold_col, "derived": derived})

    def retrievals_feeding(self, data: str, column: str) -> list[list[str]]:
        """[column, kb] of the retrieve nodes on ``data`` that ``column`` depends on."""
        found = set()
        for w in self.writers.get((data, column), ()):
            for n in nx.ancestors(self.G, w) | {w}:
                a = self.G.nodes[n]
                if a["kind"] == "retrieve" and a.get("data") == data:
                    found.add((a["out"], a["options"]["kb"]))
        return [list(x) for x in sorted(found)]

    # ------------------------------------------------------------------ rows
    def row_block(self, body, ctx: RowCtx) -> bool:
        """Lower per-row statements; True when every path returns (inside a step)."""
        for i, st in enumerate(body):
            if isinstance(st, A.Assign):
                if st.var is None:
                    col = ctx.locals.get(str(st.name)) or f"{ctx.prefix}{st.name}"
                    ctx.locals[str(st.name)] = col
                    self.assign_col(col, st.value, ctx, st.span)
                else:
                    self.user_columns.add(str(st.name))
                    self.assign_col(str(st.name), st.value, ctx, st.span)
            elif isinstance(st, A.CallStmt):
                self.pure(st.call, ctx, statement=True)
            elif isinstance(st, A.Return):
                self.assign_col(ctx.ret or f"{ctx.prefix}ret", st.value, ctx, st.span)
                return True
            elif isinstance(st, A.Gate):
                cond = self.pure(st.cond, ctx)
                g = f"_g{self.n}"
                self.writers[(ctx.data, g)] = [self.node(
                    "gate", "if ...", st.span, data=ctx.data, reads=reads_of(cond, ctx.var), out=g,
                    when=ctx.when, expr={"cond": cond, "var": ctx.var})]
                then_ctx = dataclasses.replace(ctx, when=ctx.when + (g,), locals=ctx.locals)
                else_ctx = dataclasses.replace(ctx, when=ctx.when + ("!" + g,), locals=ctx.locals)
                r_then = self.row_block(st.then, then_ctx)
                r_else = self.row_block(st.orelse, else_ctx)
                if r_then and r_else:
                    return True
                if r_then:
                    ctx = dataclasses.replace(ctx, when=ctx.when + ("!" + g,))
                elif r_else:
                    ctx = dataclasses.replace(ctx, when=ctx.when + (g,))
        return False

    def assign_col(self, col: str, value: A.Expr, ctx: RowCtx, span) -> None:
        if isinstance(value, A.Call) and self._model_call(value, ctx):
            self.model_op(value, ctx, out=col)
            return
        pure = self.pure(value, ctx)
        self.node("compute", f"{col} = ...", span, data=ctx.data, reads=reads_of(pure, ctx.var), out=col,
                  when=ctx.when, expr={"value": pure, "var": ctx.var})
        self.wrote(ctx.data, col, self.order[-1], ctx.when)

    def _model_call(self, call: A.Call, ctx: RowCtx) -> str | None:
        m = call.method
        if m is None:
            return None
        recv, meth = m
        role = ctx.models.get(recv, recv)
        if self.kinds.get(role) == "model" and meth in MODEL_OPS:
            return role
        return None

    def _member_call(self, e: A.Call, ctx: RowCtx) -> A.Call:
        """``team[i].generate(...)`` with ``i`` known (a param, an unrolled comprehension's
        item): the call of that member of the ensemble."""
        f = e.func
        if not (isinstance(f, A.Attr) and isinstance(f.obj, A.Index) and isinstance(f.obj.obj, A.Name)
                and str(f.obj.obj.id) in self.ensembles):
            return e
        members = self.ensembles[str(f.obj.obj.id)]
        index = self.pure(f.obj.index, ctx)
        try:
            k = constant(index, self.params)
        except EvalError:
            raise EvalError(f"{unparse(f.obj)}: the member of an ensemble is chosen by a number known before "
                            "the run (a param, or the item of a comprehension over a range)", f.obj.span, "E125") from None
        if not isinstance(k, int) or isinstance(k, bool) or not -len(members) <= k < len(members):
            raise EvalError(f"{unparse(f.obj)}: no member {k!r}; '{f.obj.obj.id}' has {len(members)} "
                            f"(0..{len(members) - 1})", f.obj.span, "E125")
        member = A.Name(f.obj.span, A.Ident(members[k], f.obj.span))
        return dataclasses.replace(e, func=A.Attr(f.span, member, f.name))

    def _model_list(self, e, ctx: RowCtx) -> list[str] | None:
        """The roles of a literal list of models (``[a, b, c]``, step params bound to models
        included), or None when ``e`` is something else."""
        if isinstance(e, A.Name) and str(e.id) in self.ensembles:  # model team = [a, b, c]
            e = A.ListLit(e.span, [A.Name(e.span, A.Ident(m)) for m in self.ensembles[str(e.id)]])
        if not isinstance(e, A.ListLit) or not e.items:
            return None
        roles = [ctx.models.get(str(i.id), str(i.id)) if isinstance(i, A.Name) else None for i in e.items]
        return roles if all(r is not None and self.kinds.get(r) == "model" for r in roles) else None

    def model_op(self, call: A.Call, ctx: RowCtx, out: str | None = None) -> str:
        role = self._model_call(call, ctx)
        method = call.method[1]
        out = out or f"{ctx.prefix}{method}{self.n}"
        prompt = self.pure(call.args[0], ctx) if call.args else A.Str(call.span, "")
        opts, exprs = {}, {"prompt": prompt, "var": ctx.var}
        reads = set(reads_of(prompt, ctx.var))
        spec = self.G.graph["models"].get(role) or {}
        for kw in call.kwargs:
            name = str(kw.name)
            self._check_call_option(role, spec, method, kw)
            if name in ("confidence",) and isinstance(kw.value, A.Name):
                opts[name] = str(kw.value.id)
            elif name == "on_parse_error":
                v = kw.value
                opts[name] = str(v.id) if isinstance(v, A.Name) and str(v.id) in ("drop", "keep", "fail") \
                    else {"value": self.const(v)}
            elif name in ("options", "history"):  # row expressions, evaluated per row
                exprs[name] = self.pure(kw.value, ctx)
                reads.update(reads_of(exprs[name], ctx.var))
            else:
                opts[name] = self.const(kw.value)
        if spec.get("backend") == "column":  # a column() model answers with that column of the row
            reads.add(str(spec.get("ref")))
        label = f"{role}.{method} -> {out}"
        self.node(method, label, call.span, data=ctx.data, model=role, reads=sorted(reads), out=out,
                  when=ctx.when, expr=exprs, options=opts)
        self.wrote(ctx.data, out, self.order[-1], ctx.when)
        return out

    def _check_call_option(self, role: str, spec: dict, method: str, kw: A.KwArg) -> None:
        """A per-call option applies to the backend the role is bound to, with a value in range."""
        name, backend = str(kw.name), str(spec.get("backend") or "")
        as_model = MODEL_OPTIONS.get(name)
        problem = backend_problem(as_model, backend, f"{method}() option") if as_model is not None else None
        if problem:
            if self.declared.get(role, backend) != backend:
                problem += f" (role '{role}' is bound by --model to {backend}:{spec.get('ref')})"
            raise EvalError(problem, kw.name.span, "E112")
        opt = METHOD_OPTIONS.get(name)
        if opt is not None and opt.check is not None:  # per-call options are constants (else E121)
            problem = opt.problem(self.const(kw.value))
            if problem:
                raise EvalError(problem, kw.value.span, "E109")

    def pure(self, e, ctx: RowCtx, statement: bool = False):
        """Replace model calls, retrievals, step calls and locals by columns."""
        if isinstance(e, A.Name):
            n = str(e.id)
            if n in ctx.subst:
                return ctx.subst[n]
            if n in ctx.locals:
                return A.Attr(e.span, A.Name(e.span, A.Ident(ctx.var)), A.Ident(ctx.locals[n]))
            return e
        if isinstance(e, A.Call):
            e = self._member_call(e, ctx)
            if self._model_call(e, ctx):
                col = self.model_op(e, ctx)
                return A.Attr(e.span, A.Name(e.span, A.Ident(ctx.var)), A.Ident(col))
            m = e.method
            if m is not None and self.kinds.get(ctx.models.get(m[0], m[0])) == "kb":
                return self.kb_call(e, ctx, statement)
            if e.fname in self.steps and e.fname not in ctx.locals:
                return self.inline_step(e, ctx)
        if isinstance(e, A.ListComp):
            return self.comprehension(e, ctx)
        return _rebuild(e, lambda c: self.pure(c, ctx))

    def comprehension(self, e: A.ListComp, ctx: RowCtx):
        """Unrolled into a list literal when the iterable is a literal list of models (each
        item's calls go to its model) or is known from the params (so each item's model calls
        become nodes); otherwise evaluated row by row, which allows no
        model call, retrieval or step in the element."""
        var = str(e.var)
        roles = self._model_list(e.iterable, ctx)
        if roles is not None:  # [m.generate(p) for m in [a, b, c]]: one call node per model
            if e.cond is not None:
                raise EvalError("a comprehension over a list of models takes no `if`: list the models it "
                                "calls", e.cond.span, "E125")
            self.expanding.append(("this comprehension", e.span))
            out = [self.pure(e.elem, dataclasses.replace(ctx, models={**ctx.models, var: role})) for role in roles]
            self.expanding.pop()
            return A.ListLit(e.span, out)
        try:
            items = comprehension_items(self.const(e.iterable), e.iterable)
        except EvalError:
            items = None
        if items is not None and e.cond is not None:
            kept = self._static_filter(e, items)
            if kept is None:  # the condition reads row values: the comprehension runs per row
                items = None
            else:
                items = kept
        if items is None:
            for c in [*e.elem.walk(), *(e.cond.walk() if e.cond is not None else ())]:
                if isinstance(c, A.Call) and (self._model_call(c, ctx) or c.fname in self.steps or (
                        c.method is not None and self.kinds.get(ctx.models.get(c.method[0], c.method[0])) == "kb")):
                    raise EvalError(f"'{unparse(c)}' {ROW_COMPREHENSION_CALL}", c.span, "E125")
            inner = dataclasses.replace(ctx, locals={k: v for k, v in ctx.locals.items() if k != var},
                                        subst={k: v for k, v in ctx.subst.items() if k != var})
            return A.ListComp(e.span, self.pure(e.elem, inner), e.var, self.pure(e.iterable, ctx),
                              None if e.cond is None else self.pure(e.cond, inner))
        out = []
        self.expanding.append(("this comprehension", e.span))
        for v in items:
            inner = dataclasses.replace(ctx, subst={**ctx.subst, var: _literal(v, e.span)})
            out.append(self.pure(e.elem, inner))
        self.expanding.pop()
        return A.ListLit(e.span, out)

    def _static_filter(self, e: A.ListComp, items: list) -> list | None:
        """The items whose ``if`` holds when it reads only params and the item; None when it
        reads row values."""
        from collabdsl.evaluate import Env, evaluate

        kept = []
        for v in items:
            try:
                if evaluate(e.cond, Env(params=self.params, names={str(e.var): v})):
                    kept.append(v)
            except EvalError:
                return None
        return kept

    def kb_call(self, e: A.Call, ctx: RowCtx, statement: bool):
        kb, meth = e.method
        kb = ctx.models.get(kb, kb)  # a kb passed to a step
        args = [self.pure(a, ctx) for a in e.args]
        kws = {str(k.name): self.pure(k.value, ctx) for k in e.kwargs if str(k.name) != "by"}  # by: a name
        reads = sorted({c for x in args + list(kws.values()) for c in reads_of(x, ctx.var)})
        if meth == "write":
            nid = self.node("kb_write", f"{kb}.write", e.span, data=ctx.data, reads=reads, out=kb,
                            when=ctx.when, expr={"text": args[0] if args else None, "key": kws.get("key"),
                                                 "var": ctx.var})
            self.wrote("kb", kb, nid, ctx.when)
            return A.NoneLit(e.span)
        col = f"{ctx.prefix}retrieve{self.n}"
        top = self.const(e.kwarg("top"), 1)
        by = e.kwarg("by")  # key or text (checked: E118, E112)
        by = str(by.id) if isinstance(by, A.Name) else "text"
        nid = self.node("retrieve", f"{kb}.retrieve by {by} top {top} -> {col}", e.span, data=ctx.data,
                        reads=reads, out=col, when=ctx.when,
                        expr={"query": args[0] if args else None, "var": ctx.var},
                        options={"kb": kb, "top": top, "by": by})
        for src in self.writers.get(("kb", kb), ()):
            if by == "key" and self.G.nodes[src]["expr"].get("key") is None:  # the checker's E118, for
                raise EvalError(f"{kb}.retrieve(by: key) ranks the entries' keys, but the write at "  # a kb
                                f"{self.G.nodes[src]['span']} gives no 'key:'", e.span, "E118")  # in a step
            self.edge(src, nid, "data", kb)
        self.wrote(ctx.data, col, nid, ctx.when)
        return A.Attr(e.span, A.Name(e.span, A.Ident(ctx.var)), A.Ident(col))

    def inline_step(self, call: A.Call, ctx: RowCtx):
        step = self.steps[call.fname]
        k = self.n
        inner = RowCtx(ctx.data, ctx.var, prefix=f"_{step.name}{k}_", when=ctx.when)
        for param, arg in zip(step.params, call.args):
            if isinstance(arg, A.Name) and (str(arg.id) in ctx.models
                                            or self.kinds.get(str(arg.id)) in ("model", "kb")):
                inner.models[str(param)] = ctx.models.get(str(arg.id), str(arg.id))
            else:
                inner.subst[str(param)] = self.pure(arg, ctx)
        inner.ret = f"_{step.name}{k}"
        self.expanding.append((f"step '{step.name}'", call.span))
        self.row_block(step.body, inner)
        self.expanding.pop()
        return A.Attr(call.span, A.Name(call.span, A.Ident(ctx.var)), A.Ident(inner.ret))


def lower(program: A.Program, params: dict, models: dict) -> nx.DiGraph:
    return Lowerer(program, params, models).lower()
