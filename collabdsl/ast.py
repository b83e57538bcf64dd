"""Typed AST of the .collab language. Every node carries its source span.

Names are ``Ident`` values: plain strings that also remember where they were written,
so a diagnostic about a name can point at it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Union


@dataclass(frozen=True)
class Span:
    path: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


NOWHERE = Span("<builtin>", 0, 0, 0, 0)


class Ident(str):
    """A name as written in the source: a ``str`` with a ``span``."""

    span: Span

    def __new__(cls, value: str, span: Span = NOWHERE) -> "Ident":
        obj = super().__new__(cls, value)
        obj.span = span
        return obj

    def __reduce__(self):  # keep spans through pickling/copying
        return (Ident, (str(self), self.span))


@dataclass
class Node:
    span: Span

    def children(self) -> Iterator["Node"]:
        for value in self.__dict__.values():
            yield from _nodes_in(value)

    def walk(self) -> Iterator["Node"]:
        """This node and every node below it, depth first, in source order."""
        yield self
        for child in self.children():
            yield from child.walk()


def _nodes_in(value) -> Iterator[Node]:
    if isinstance(value, Node):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _nodes_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _nodes_in(v)


# ------------------------------------------------------------------ expressions
@dataclass
class Expr(Node):
    pass


@dataclass
class Num(Expr):
    value: float | int


@dataclass
class Str(Expr):
    value: str


@dataclass
class Bool(Expr):
    value: bool


@dataclass
class NoneLit(Expr):
    pass


@dataclass
class Name(Expr):
    id: Ident


@dataclass
class Attr(Expr):
    obj: Expr
    name: Ident


@dataclass
class KwArg(Node):
    name: Ident
    value: Expr


@dataclass
class Call(Expr):
    func: Expr
    args: list[Expr]
    kwargs: list[KwArg]

    def kwarg(self, name: str) -> Expr | None:
        for kw in self.kwargs:
            if kw.name == name:
                return kw.value
        return None

    @property
    def method(self) -> tuple[str, str] | None:
        """``(receiver, method)`` for ``receiver.method(...)`` calls on a plain name."""
        if isinstance(self.func, Attr) and isinstance(self.func.obj, Name):
            return str(self.func.obj.id), str(self.func.name)
        return None

    @property
    def fname(self) -> str | None:
        return str(self.func.id) if isinstance(self.func, Name) else None


@dataclass
class Index(Expr):
    obj: Expr
    index: Expr


@dataclass
class BinOp(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass
class Compare(Expr):
    op: str
    left: Expr
    right: Expr


@dataclass
class And(Expr):
    left: Expr
    right: Expr


@dataclass
class Or(Expr):
    left: Expr
    right: Expr


@dataclass
class Not(Expr):
    operand: Expr


@dataclass
class Neg(Expr):
    operand: Expr


@dataclass
class ListLit(Expr):
    items: list[Expr]


@dataclass
class ListComp(Expr):
    """``[ELEM for NAME in ITERABLE]``: ELEM for each item (a list, or an inclusive range
    ``lo..hi``). With model calls in ELEM the iterable must be computable from params: the
    comprehension is unrolled when the program is compiled, one model call per item."""

    elem: Expr
    var: Ident
    iterable: Expr
    cond: Expr | None = None  # ``[ELEM for NAME in ITERABLE if COND]``: the items where COND holds


@dataclass
class DictLit(Expr):
    keys: list[Ident]
    values: list[Expr]


@dataclass
class Range(Expr):
    lo: Expr
    hi: Expr


# ------------------------------------------------------------------ row statements
@dataclass
class Assign(Node):
    """``name = expr`` (a local) or ``x.field = expr`` (a column of the row)."""

    var: Ident | None  # the row variable for a field write, None for a local
    name: Ident
    value: Expr


@dataclass
class Gate(Node):
    """A per-row condition: the rows where ``cond`` holds take ``then``."""

    cond: Expr
    then: list["RowStmt"]
    orelse: list["RowStmt"]


@dataclass
class Return(Node):
    value: Expr


@dataclass
class CallStmt(Node):
    call: Call


RowStmt = Union[Assign, Gate, Return, CallStmt]


# ------------------------------------------------------------------ declarations
@dataclass
class Header(Node):
    name: Ident
    description: str


@dataclass
class Import(Node):
    module: str
    is_file: bool
    names: list[Ident]


@dataclass
class Param(Node):
    name: Ident
    type: Ident
    default: Expr
    choices: Expr | None = None  # `in [...]`: the values it may take (a list literal)
    ablation: str | None = None  # `ablation "w/o KB"`: a bool switch of the named ablation


@dataclass
class ProfileSet(Node):
    name: Ident
    value: Expr


@dataclass
class Profile(Node):
    """``profile NAME [default] ["doc"] { param = literal ... }``: param values chosen together."""

    name: Ident
    is_default: bool
    doc: str
    sets: list[ProfileSet]


@dataclass
class Model(Node):
    name: Ident
    backend: Ident
    args: list[Expr]
    kwargs: list[KwArg]
    options: list[KwArg]  # generation options: temperature, top_p, max_tokens, ...
    trainable: bool | None  # None: not said (trainable for local backends)
    lora: list[KwArg] | None  # None: full fine-tuning when trainable; [] LoRA defaults


@dataclass
class Ensemble(Node):
    """``model team = [a, b, c]``: models declared one by one (each bindable with --model),
    named together so a comprehension calls each: ``[m.generate(p) for m in team]``."""

    name: Ident
    members: list[Ident]


@dataclass
class Training(Node):
    """``train MODEL OBJECTIVE for x in DATA { entries }``: a new model version."""

    model: Ident
    objective: Ident
    var: Ident
    source: Expr
    entries: list[KwArg]
    new_name: Ident | None = None  # set by ``model NAME = train ...``

    def entry(self, name: str) -> Expr | None:
        for kw in self.entries:
            if kw.name == name:
                return kw.value
        return None


@dataclass
class Filter(Node):
    var: Ident
    source: Expr
    cond: Expr


@dataclass
class Expand(Node):
    var: Ident
    source: Expr
    item: Ident
    items: Expr
    body: list[RowStmt]


@dataclass
class Data(Node):
    names: list[Ident]
    source: Union[Expr, Filter, Expand]


@dataclass
class Prompt(Node):
    name: Ident
    slots: list[Ident]
    template: str
    template_span: Span


@dataclass
class KB(Node):
    name: Ident


@dataclass
class Step(Node):
    name: Ident
    params: list[Ident]
    body: list[RowStmt]


@dataclass
class ForEach(Node):
    var: Ident
    source: Expr
    body: list[RowStmt]


@dataclass
class Repeat(Node):
    count: Expr | None  # None for ``repeat until``
    until: Expr | None
    max: Expr | None
    var: Ident | None
    body: list["Stmt"]
    rows_left: str | None = None  # a per-row loop (`repeat for x in D until ...`): its rows still active


@dataclass
class StaticIf(Node):
    """A program-level branch on params, decided before the run (ablations)."""

    cond: Expr
    then: list["Stmt"]
    orelse: list["Stmt"]


@dataclass
class System(Node):
    label: str
    expr: Expr
    when: Expr | None


@dataclass
class Derived(Node):
    """``derived "label" = EXPR``: a row of an eval's table computed, metric by metric, from
    other rows (``system("label")`` is that system's value of the metric) and params."""

    label: str
    expr: Expr
    when: Expr | None


@dataclass
class Eval(Node):
    name: Ident
    var: Ident
    source: Expr
    metrics: list[Ident]
    gold: Expr | None
    systems: list[System]
    derived: list[Derived] = field(default_factory=list)


Stmt = Union[Import, Param, Profile, Model, Ensemble, Training, Data, Prompt, KB, Step, ForEach, Repeat,
             StaticIf, Eval]


@dataclass
class Program(Node):
    path: str
    source: str
    header: Header | None
    body: list[Stmt] = field(default_factory=list)

    def decls(self, cls) -> Iterator:
        """Every statement of type ``cls``, also inside loops and static ifs."""
        for st in iter_stmts(self.body):
            if isinstance(st, cls):
                yield st


def iter_stmts(body: list) -> Iterator:
    for st in body:
        yield st
        if isinstance(st, Repeat):
            yield from iter_stmts(st.body)
        elif isinstance(st, StaticIf):
            yield from iter_stmts(st.then)
            yield from iter_stmts(st.orelse)


def iter_row_stmts(body: list) -> Iterator:
    for st in body:
        yield st
        if isinstance(st, Gate):
            yield from iter_row_stmts(st.then)
            yield from iter_row_stmts(st.orelse)
