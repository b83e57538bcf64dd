"""Source text -> typed AST (Lark LALR with propagated positions)."""
from __future__ import annotations

import ast as pyast
import re
import textwrap
import warnings
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from collabdsl import ast as A
from collabdsl.diagnostics import Diagnostic, error
from collabdsl.resources import grammar_path

# Human names for terminals in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name", "STRING": "a string", "LONG_STRING": 'a """string"""', "NUMBER": "a number",
    "LBRACE": "'{'", "RBRACE": "'}'", "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'",
    "COMMA": "','", "COLON": "':'", "EQUAL": "'='", "DOT": "'.'", "COMP_OP": "a comparison",
    "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '%'", "MINUS": "'-'", "__ANON_0": "'..'",
    "$END": "end of file",
}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(grammar_path().read_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=True, cache=True)


def _span(path: str, meta) -> A.Span:
    if getattr(meta, "empty", False) or not hasattr(meta, "line"):
        return A.Span(path, 1, 1, 1, 1)
    return A.Span(path, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_span(path: str, tok: Token) -> A.Span:
    return A.Span(path, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1)


class _BadLiteral(ValueError):
    """A string literal Python cannot read (e.g. a truncated \\x escape); keeps its token."""

    def __init__(self, tok: Token, reason: str):
        super().__init__(reason)
        self.tok = tok


def _string(tok: Token) -> str:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an unknown escape such as \d stays as written
            text = pyast.literal_eval(str(tok))
    except (SyntaxError, ValueError) as exc:
        raise _BadLiteral(tok, getattr(exc, "msg", None) or str(exc)) from None
    if str(tok).startswith('"""'):
        text = textwrap.dedent(text).strip("\n")
    return text


_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|N\{[^}]*\}|[0-7]{1,3}|.)",
                     re.DOTALL)


def unescape(text: str) -> str:
    """A text given outside a program (``--set s='\\n\\nQ:'``) read with the escapes of the
    language's string literals, decoded by the same rules: ``\\n`` is a newline, ``\\\\`` a
    backslash, ``\\"`` a quote, ``\\x41``/``\\u00e9`` characters; an unknown escape such as
    ``\\d`` stays as written. A malformed escape (``\\x4``) is a ValueError."""
    def one(m: re.Match) -> str:
        esc = m.group(0)
        if esc[1] in "xuUN" and len(esc) == 2:
            raise ValueError(f"malformed escape {esc!r}")
        if esc[1] in "\n\r":  # a backslash at the end of a line (a continuation in a literal)
            return esc
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pyast.literal_eval(f'"{esc}"')
        except (SyntaxError, ValueError) as exc:
            raise ValueError(f"malformed escape {esc!r}: {getattr(exc, 'msg', exc)}") from None

    return _ESCAPE.sub(one, text)


@v_args(meta=True)
class _Build(Transformer):
    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def _id(self, tok) -> A.Ident:
        return A.Ident(str(tok), _tok_span(self.path, tok))

    def _s(self, meta) -> A.Span:
        return _span(self.path, meta)

    # ------------------------------------------------------------ program
    def start(self, meta, items):
        header = items[0] if items and isinstance(items[0], A.Header) else None
        body = [i for i in items if not isinstance(i, A.Header)]
        return A.Program(self._s(meta), self.path, "", header, body)

    def header(self, meta, items):
        return A.Header(self._s(meta), self._id(items[0]), _string(items[1]))

    def import_stmt(self, meta, items):
        module, is_file = items[0]
        return A.Import(self._s(meta), module, is_file, [self._id(t) for t in items[1:]])

    def module_std(self, meta, items):
        return items[0], False

    def module_file(self, meta, items):
        return _string(items[0]), True

    def dotted_name(self, meta, items):
        return ".".join(str(t) for t in items)

    def param_decl(self, meta, items):
        return A.Param(self._s(meta), self._id(items[0]), self._id(items[1]), items[2], items[3],
                       _string(items[4]) if items[4] is not None else None)

    def profile_decl(self, meta, items):
        name, is_default, doc, *sets = items
        return A.Profile(self._s(meta), self._id(name), is_default is not None,
                         _string(doc) if doc is not None else "", sets)

    def profile_set(self, meta, items):
        return A.ProfileSet(self._s(meta), self._id(items[0]), items[1])

    def model_decl(self, meta, items):
        name, backend, args, *opts = items
        pos, kws = args or ([], [])
        options, trainable, lora = [], None, None
        for kind, value in opts:
            if kind == "frozen":
                trainable = False
            elif kind == "trainable":
                trainable = True
                lora = value
            else:
                options.append(value)
        return A.Model(self._s(meta), self._id(name), self._id(backend), pos, kws, options, trainable, lora)

    def ensemble_decl(self, meta, items):
        name, *members = [i for i in items if i is not None]
        return A.Ensemble(self._s(meta), self._id(name), [self._id(m) for m in members])

    def opt_trainable(self, meta, items):
        spec = items[0]
        # `trainable` alone: LoRA with defaults; `trainable full`: full fine-tuning.
        if spec is None:
            return "trainable", []
        return "trainable", None if spec == "full" else spec

    def opt_frozen(self, meta, items):
        return "frozen", None

    def opt_value(self, meta, items):
        return "value", A.KwArg(self._s(meta), self._id(items[0]), items[1])

    def lora(self, meta, items):
        pos, kws = items[0] or ([], [])
        # settings go by name; a positional one is kept under the empty name for the checker (E113)
        return [A.KwArg(e.span, A.Ident("", e.span), e) for e in pos] + kws

    def full(self, meta, items):
        return "full"

    def derive_decl(self, meta, items):
        training = items[1]
        training.new_name = self._id(items[0])
        training.span = self._s(meta)
        return training

    def data_decl(self, meta, items):
        *names, source = items
        return A.Data(self._s(meta), [self._id(n) for n in names], source)

    def filter(self, meta, items):
        return A.Filter(self._s(meta), self._id(items[0]), items[1], items[2])

    def expand(self, meta, items):
        return A.Expand(self._s(meta), self._id(items[0]), items[1], self._id(items[2]), items[3], items[4])

    def prompt_decl(self, meta, items):
        name, slots, text = items
        return A.Prompt(self._s(meta), self._id(name), slots or [], _string(text), _tok_span(self.path, text))

    def names(self, meta, items):
        return [self._id(t) for t in items]

    def kb_decl(self, meta, items):
        return A.KB(self._s(meta), self._id(items[0]))

    def step_decl(self, meta, items):
        return A.Step(self._s(meta), self._id(items[0]), items[1] or [], items[2])

    def foreach(self, meta, items):
        return A.ForEach(self._s(meta), self._id(items[0]), items[1], items[2])

    def train_stmt(self, meta, items):
        return items[0]

    def training(self, meta, items):
        model, objective, var, source, *entries = items
        return A.Training(self._s(meta), self._id(model), self._id(objective), self._id(var), source, entries)

    def entry(self, meta, items):
        return A.KwArg(self._s(meta), self._id(items[0]), items[1])

    def repeat(self, meta, items):
        return A.Repeat(self._s(meta), items[0], None, None, self._id(items[1]) if items[1] else None, items[2])

    def repeat_until(self, meta, items):
        return A.Repeat(self._s(meta), None, items[0], items[1], self._id(items[2]) if items[2] else None, items[3])

    def repeat_rows(self, meta, items):
        """``repeat for x in D until COND max N { ROW STATEMENTS }``: rounds over the rows of
        D, each row leaving once its own COND holds after a round, at most N rounds, the
        whole loop ending when no row is left. Written out as what it means:

            for x in D { x._active = true }
            repeat until count(_left) == 0 max N {
              for x in D { if x._active { ROW STATEMENTS } }
              for x in D { if x._active { x._active = not COND } }
              data _left = for x in D where x._active
            }

        so a row's columns carry from round to round, and every call of a round is batched
        across the rows still active. (The two top-level statements travel in an `if true`,
        a static if the lowering decides at once.)"""
        var, source, cond, mx, body = items
        s = self._s(meta)
        tag = f"L{s.line}C{s.col}"
        active, left = A.Ident(f"_active_{tag}", s), A.Ident(f"_left_{tag}", s)
        v = self._id(var)

        def is_active():
            return A.Attr(s, A.Name(s, v), active)

        start = A.ForEach(s, v, source, [A.Assign(s, v, active, A.Bool(s, True))])
        work = A.ForEach(s, v, source, [A.Gate(s, is_active(), body, [])])
        leave = A.ForEach(s, v, source, [A.Gate(s, is_active(), [A.Assign(s, v, active, A.Not(s, cond))], [])])
        left_rows = A.Data(s, [left], A.Filter(s, v, source, is_active()))
        until = A.Compare(s, "==", A.Call(s, A.Name(s, A.Ident("count", s)), [A.Name(s, left)], []), A.Num(s, 0))
        loop = A.Repeat(s, None, until, mx, None, [work, leave, left_rows], rows_left=str(left))
        return A.StaticIf(s, A.Bool(s, True), [start, loop], [])

    def static_if(self, meta, items):
        cond, then, orelse = items
        if isinstance(orelse, A.StaticIf):
            orelse = [orelse]
        return A.StaticIf(self._s(meta), cond, then, orelse or [])

    def top_block(self, meta, items):
        return list(items)

    def eval_stmt(self, meta, items):
        name, var, source, *rest = items
        metrics = [self._id(t) for t in rest if isinstance(t, Token)]
        gold, systems, derived = None, [], []
        for it in rest:
            if isinstance(it, tuple):
                gold = it[1]
            elif isinstance(it, A.System):
                systems.append(it)
            elif isinstance(it, A.Derived):
                derived.append(it)
        return A.Eval(self._s(meta), self._id(name), self._id(var), source, metrics, gold, systems, derived)

    def eval_gold(self, meta, items):
        return ("gold", items[0])

    def eval_system(self, meta, items):
        return A.System(self._s(meta), _string(items[0]), items[1], items[2])

    def eval_derived(self, meta, items):
        return A.Derived(self._s(meta), _string(items[0]), items[1], items[2])

    # ------------------------------------------------------------ rows
    def row_block(self, meta, items):
        return list(items)

    def assign(self, meta, items):
        var, name = items[0]
        return A.Assign(self._s(meta), var, name, items[1])

    def local_target(self, meta, items):
        return None, self._id(items[0])

    def field_target(self, meta, items):
        return self._id(items[0]), self._id(items[1])

    def gate(self, meta, items):
        cond, then, orelse = items
        if isinstance(orelse, A.Gate):
            orelse = [orelse]
        return A.Gate(self._s(meta), cond, then, orelse or [])

    def return_stmt(self, meta, items):
        return A.Return(self._s(meta), items[0])

    def call_stmt(self, meta, items):
        obj, method, args = items
        pos, kws = args or ([], [])
        s = self._s(meta)
        func = A.Attr(s, A.Name(_tok_span(self.path, obj), self._id(obj)), self._id(method))
        return A.CallStmt(s, A.Call(s, func, pos, kws))

    # ------------------------------------------------------------ expressions
    def range(self, meta, items):
        return A.Range(self._s(meta), items[0], items[1])

    def or_(self, meta, items):
        return A.Or(self._s(meta), items[0], items[1])

    def and_(self, meta, items):
        return A.And(self._s(meta), items[0], items[1])

    def not_(self, meta, items):
        return A.Not(self._s(meta), items[0])

    def compare(self, meta, items):
        return A.Compare(self._s(meta), str(items[1]), items[0], items[2])

    def binop(self, meta, items):
        return A.BinOp(self._s(meta), str(items[1]), items[0], items[2])

    def neg(self, meta, items):
        return A.Neg(self._s(meta), items[0])

    def getattr(self, meta, items):
        return A.Attr(self._s(meta), items[0], self._id(items[1]))

    def call(self, meta, items):
        pos, kws = items[1] or ([], [])
        return A.Call(self._s(meta), items[0], pos, kws)

    def index(self, meta, items):
        return A.Index(self._s(meta), items[0], items[1])

    def number(self, meta, items):
        text = str(items[0])
        value = int(text) if text.isdigit() else float(text)
        return A.Num(self._s(meta), value)

    def string(self, meta, items):
        return A.Str(self._s(meta), _string(items[0]))

    def true(self, meta, items):
        return A.Bool(self._s(meta), True)

    def false(self, meta, items):
        return A.Bool(self._s(meta), False)

    def none(self, meta, items):
        return A.NoneLit(self._s(meta))

    def name(self, meta, items):
        return A.Name(self._s(meta), self._id(items[0]))

    def list_comp(self, meta, items):
        return A.ListComp(self._s(meta), items[0], self._id(items[1]), items[2], items[3] if len(items) > 3 else None)

    def list(self, meta, items):
        return A.ListLit(self._s(meta), [i for i in items if i is not None])

    def dict(self, meta, items):
        pairs = [i for i in items if i is not None]
        return A.DictLit(self._s(meta), [k for k, _ in pairs], [v for _, v in pairs])

    def pair(self, meta, items):
        key = items[0]
        name = _string(key) if key.type == "STRING" else str(key)
        return A.Ident(name, _tok_span(self.path, key)), items[1]

    def args(self, meta, items):
        pos = [i for i in items if not isinstance(i, A.KwArg)]
        kws = [i for i in items if isinstance(i, A.KwArg)]
        return pos, kws

    def kwarg(self, meta, items):
        return A.KwArg(self._s(meta), self._id(items[0]), items[1])


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_TERMINAL_NAMES.get(t, f"'{t.lower()}'" if t.isupper() and not t.startswith("__") else t)
                    for t in getattr(exc, "expected", None) or getattr(exc, "allowed", None) or []})
    if not names:
        return ""
    if len(names) > 8:
        names = names[:8] + ["..."]
    return "; expected " + ", ".join(names)


def _describe(tok: Token) -> str:
    if tok.type == "$END":
        return "end of file"
    return f"{tok.type.lower() if tok.type in ('NAME', 'NUMBER', 'STRING') else 'token'} '{tok}'"


_CLOSERS = {"{": "}", "(": ")", "[": "]"}


def _unclosed(source: str) -> tuple[str, int, int] | None:
    """The innermost bracket still open at the end of ``source`` (strings and comments
    skipped): ``(bracket, line, col)``, or None."""
    stack, i, line, col = [], 0, 1, 1
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "#":
            while i < n and source[i] != "\n":
                i += 1
            continue
        if ch == '"':
            quote = '"""' if source.startswith('"""', i) else '"'
            j = i + len(quote)
            while j < n and not source.startswith(quote, j) and (quote == '"""' or source[j] != "\n"):
                j += 2 if source[j] == "\\" else 1
            end = min(j + len(quote), n)
            text = source[i:end]
            if "\n" in text:
                line += text.count("\n")
                col = len(text) - text.rfind("\n")
            else:
                col += len(text)
            i = end
            continue
        if ch in _CLOSERS:
            stack.append((ch, line, col))
        elif ch in _CLOSERS.values() and stack and _CLOSERS[stack[-1][0]] == ch:
            stack.pop()
        if ch == "\n":
            line, col = line + 1, 1
        else:
            col += 1
        i += 1
    return stack[-1] if stack else None


def syntax_diagnostic(exc: UnexpectedInput, path: str, source: str = "") -> Diagnostic:
    line = getattr(exc, "line", 1) or 1
    col = getattr(exc, "column", 1) or 1
    if isinstance(exc, UnexpectedToken):
        tok = exc.token
        if tok.type == "$END":
            msg = "unexpected end of file" + _expected(exc)
            opened = _unclosed(source)
            if opened is not None:  # point at the bracket that is never closed
                bracket, line, col = opened
                msg = f"unexpected end of file: this '{bracket}' is never closed" + _expected(exc)
                return error("E001", f"syntax error: {msg}", A.Span(path, line, col, line, col + 1))
        else:
            msg = f"unexpected {_describe(tok)}" + _expected(exc)
        if tok.type != "$END" and tok.line:
            line, col = tok.line, tok.column
        end = col + max(1, len(str(tok)))
    elif isinstance(exc, UnexpectedCharacters):
        msg = f"unexpected character {exc.char!r}" + _expected(exc)
        end = col + 1
        if exc.char == '"':  # a string the lexer could not match: it is not closed
            long = source[exc.pos_in_stream - 2:exc.pos_in_stream + 1] == '"""' if source else False
            if long:
                col -= 2
                msg = 'unterminated """string: it needs a closing """'
            else:
                msg = 'unterminated string: a "string" ends on the same line (use """...""" for several lines)'
            end = col + 1
    elif isinstance(exc, UnexpectedEOF):
        msg = "unexpected end of file" + _expected(exc)
        end = col + 1
    else:  # pragma: no cover - lark's base class
        msg, end = str(exc).splitlines()[0], col + 1
    if line < 1 or line == -1:
        line, col, end = 1, 1, 2
    return error("E001", f"syntax error: {msg}", A.Span(path, line, max(col, 1), line, max(end, 2)))


# Deeper trees (e.g. a sum of hundreds of terms) would exhaust Python's recursion limit in
# the recursive passes over the AST; no real program comes near.
MAX_DEPTH = 120


def _too_deep(tree) -> Tree | None:
    """The top-level statement holding a subtree below MAX_DEPTH levels, or None
    (iterative: any depth)."""
    stack = [(c, 2, c) for c in tree.children if isinstance(c, Tree)]
    while stack:
        node, depth, top = stack.pop()
        if depth > MAX_DEPTH:
            return top
        stack.extend((c, depth + 1, top) for c in node.children if isinstance(c, Tree))
    return None


def parse(source: str, path: str = "<string>") -> tuple[A.Program | None, list[Diagnostic]]:
    """Parse ``source``. Returns the program, or None and one syntax diagnostic."""
    try:
        tree = _parser().parse(source)
    except UnexpectedInput as exc:
        return None, [syntax_diagnostic(exc, path, source)]
    deep = _too_deep(tree)
    if deep is not None:
        return None, [error("E001", f"syntax error: this statement is nested more than {MAX_DEPTH} "
                            "levels deep (split its expressions with locals)", _span(path, deep.meta))]
    try:
        program = _Build(path).transform(tree)
    except VisitError as exc:  # a literal lark accepted but Python cannot read (e.g. bad escape)
        meta = getattr(exc.obj, "meta", None)
        span = _span(path, meta) if meta is not None else A.Span(path, 1, 1, 1, 2)
        if isinstance(exc.obj, Token):
            span = _tok_span(path, exc.obj)
        if isinstance(exc.orig_exc, _BadLiteral):
            span = _tok_span(path, exc.orig_exc.tok)
        return None, [error("E002", f"invalid literal: {exc.orig_exc}", span)]
    program.source = source
    return program, []


def parse_file(path: str | Path) -> tuple[A.Program | None, list[Diagnostic]]:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc  # UnicodeDecodeError has no strerror
        return None, [error("E003", f"cannot read file: {reason}", A.Span(str(path), 0, 0, 0, 0))]
    return parse(text, str(path))
