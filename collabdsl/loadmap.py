"""The column mapping of ``load``: columns built from templates of other columns
(``templates:``), one option list for every row (``options:``) and the form the gold
answer is given in (``answer_is:``). Pure Python, shared by the checker (values and
conflicts at lint, E109/E131) and the runtime (``runtime.loadmap`` applies them to rows).

* A template is text with ``{column}`` slots read like a prompt's (``{{``/``}}`` are literal
  braces, other brace text is literal); a slot may reach into nested fields with dots, as a
  ``columns:`` value may (``{choices.text}``). A template that is exactly one slot copies the
  value as it is (a plain rename); otherwise each value fills its slot as text (a list one
  item per line, ``none`` the empty string).
* Options are a list of texts, or one text of options separated by ``|`` (``"yes|no|maybe"``)
  so that a ``str`` param can hold them.
* ``answer_is`` names how the file gives the answer: ``text`` (the answer's text, unchanged),
  ``index0``/``index1`` (the position of the option, counted from 0 or from 1), ``letter``
  (``A``, ``b``, ``(C)``: the option's letter) or ``bool`` (true/false: the option ``yes``/``no``).
"""
from __future__ import annotations

import re

ANSWER_FORMS = ("text", "index0", "index1", "letter", "bool")
OPTION_SEPARATOR = "|"
_SLOT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LETTER = re.compile(r"^\(?([A-Za-z])[).:]?$")


def _show(v) -> str:
    return f'"{v}"' if isinstance(v, str) else repr(v)


# ------------------------------------------------------------------ templates
def template_parts(template: str) -> list[tuple[str, str]]:
    """``[("text", literal) | ("slot", column)]`` of a load template, in order."""
    out: list[tuple[str, str]] = []
    buf: list[str] = []
    i = 0
    while i < len(template):
        if template.startswith("{{", i) or template.startswith("}}", i):
            buf.append(template[i])
            i += 2
        elif template[i] == "{":
            j = template.find("}", i)
            name = template[i + 1:j] if j > 0 else ""
            if _SLOT.fullmatch(name):
                if buf:
                    out.append(("text", "".join(buf)))
                    buf = []
                out.append(("slot", name))
                i = j + 1
            else:
                buf.append("{")
                i += 1
        else:
            buf.append(template[i])
            i += 1
    if buf:
        out.append(("text", "".join(buf)))
    return out


def template_columns(template: str) -> list[str]:
    """The columns a template reads, in order, without repeats."""
    out: list[str] = []
    for kind, v in template_parts(template):
        if kind == "slot" and v not in out:
            out.append(v)
    return out


def check_template(column, template) -> str | None:
    """What is wrong with one ``templates:`` entry (None: fine; a none template is no entry)."""
    if not isinstance(column, str) or not column:
        return f"expected a column name, got {_show(column)}"
    if template is None:
        return None
    if not isinstance(template, str):
        return f"entry '{column}' must be a text, got {_show(template)}"
    if not template_columns(template):
        return (f"entry '{column}' ({_show(template)}) names no column: write the columns "
                "it is built from in braces, like \"Premise: {premise}\\nHypothesis: {hypothesis}\"")
    return None


def check_templates(value) -> str | None:
    if not isinstance(value, dict):
        return f'expected {{column: "template"}}, got {_show(value)}'
    for column, template in value.items():
        problem = check_template(column, template)
        if problem:
            return problem
    return None


def given_templates(value) -> dict[str, str]:
    """The entries of a ``templates:`` value that build a column (a none template is left out,
    so a param defaulting to ``none`` switches its entry off)."""
    return {k: v for k, v in (value or {}).items() if v is not None}


# ------------------------------------------------------------------ options
def option_list(value) -> list[str] | None:
    """The options of an ``options:`` value: a list of texts, or a ``|``-separated text."""
    if value is None:
        return None
    if isinstance(value, str):
        return [part.strip() for part in value.split(OPTION_SEPARATOR)]
    return list(value)


def check_options(value) -> str | None:
    if isinstance(value, str):
        opts = option_list(value)
    elif isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value):
        opts = list(value)
    else:
        return f'expected a list of texts or one text like "yes|no|maybe", got {_show(value)}'
    if len(opts) < 2:
        return (f"needs at least two options, got {_show(value)} (separate them with "
                f"'{OPTION_SEPARATOR}': \"yes|no|maybe\")")
    if any(not o.strip() for o in opts):
        return f"has an empty option: {_show(value)}"
    dup = next((o for i, o in enumerate(opts) if o in opts[:i]), None)
    if dup is not None:
        return f"names the option {_show(dup)} twice"
    return None


# ------------------------------------------------------------------ answers
def check_answer_is(value) -> str | None:
    if not isinstance(value, str) or value not in ANSWER_FORMS:
        return f"unknown answer form {_show(value)}; expected one of {', '.join(ANSWER_FORMS)}"
    return None


def letter_index(value) -> int | None:
    """The 0-based position of an option letter (``A``, ``b``, ``(C)``, ``D.``), or None."""
    if not isinstance(value, str):
        return None
    m = _LETTER.match(value.strip())
    return LETTERS.index(m.group(1).upper()) if m else None


__all__ = ["ANSWER_FORMS", "LETTERS", "OPTION_SEPARATOR", "check_answer_is", "check_options", "check_templates",
           "given_templates", "letter_index", "option_list", "template_columns", "template_parts"]
