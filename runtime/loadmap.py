"""``load``'s column mapping applied to rows (the rules are in ``collabdsl.loadmap``).

The order, for each row of a source (after ``limit`` and ``shuffle``):

1. ``templates: {column: "..."}`` builds each column from the source's columns;
2. ``options: [...]`` gives every row the same ``options`` list;
3. ``columns:`` renames and keeps the mapped columns; the built columns are kept under their
   own names (a ``columns:`` entry may name them: ``question: "question"``, but mapping a
   built name from another source column is an error, not a silent choice);
4. ``answer_is:`` turns the ``answer`` into the text of its option (an ``options`` column
   given as a dict of letter -> text becomes the list of its texts in letter order).

Every failure is a :class:`runtime.data.DataError` naming the source and the row (its
1-based position in the source, whatever ``shuffle`` did) and saying what is wrong.
"""
from __future__ import annotations

from collections.abc import Mapping

from collabdsl.evaluate import _as_text as slot_text
from collabdsl.loadmap import LETTERS, given_templates, letter_index, option_list, template_parts


def _error(msg: str):
    from runtime.data import DataError

    return DataError(msg)


def check_mapping(templates, options, answer_is) -> tuple[dict, list | None]:
    """The templates and the option list to apply, after checking the values (a
    DataError otherwise: a direct call from Python gets the checker's messages)."""
    from collabdsl.options import LOAD_OPTIONS  # the checker's messages, word for word

    for name, value in (("templates", templates), ("options", options), ("answer_is", answer_is)):
        problem = LOAD_OPTIONS[name].problem(value)
        if problem:
            raise _error(problem)
    return given_templates(templates), option_list(options)


def built_columns(templates: dict, options: list | None) -> dict[str, str]:
    """{column: the option that adds it} for the columns the mapping adds to each source row."""
    if options is not None and "options" in templates:
        raise _error("templates: builds the column 'options' and options: gives every row its options: "
                     "keep one of the two")
    return {**{k: "templates: builds" for k in templates},
            **({"options": "options: gives every row"} if options is not None else {})}


def merge_columns(columns: dict, built: dict[str, str]) -> dict:
    """``columns:`` with the built columns kept under their own names; a built column that
    ``columns:`` maps from another source column is an error."""
    for name, what in built.items():
        if name in columns and columns[name] != name:
            raise _error(f"{what} the column '{name}', but columns: maps '{name}' from '{columns[name]}': "
                         f"keep one of the two (or map it as {name}: \"{name}\")")
    return {**columns, **{k: k for k in built if k not in columns}}


def _lookup(row: Mapping, key: str):
    from runtime.data import _MISSING, _lookup as lookup

    value = lookup(row, key)
    return value, value is _MISSING


def _place(where: str, pos: int) -> str:
    return f"{where}: row {pos}"


def fill(template: str, row: Mapping, place: str, column: str):
    parts = template_parts(template)
    values = []
    for kind, v in parts:
        if kind == "text":
            values.append(v)
            continue
        value, missing = _lookup(row, v)
        if missing:
            raise _error(f"{place}: the template of '{column}' names the column '{v}', which the row does "
                         f"not have; its columns: {', '.join(map(str, row)) or '(none)'}")
        if len(parts) == 1:
            return value  # one slot: the value as it is (a rename)
        values.append(slot_text(value))
    return "".join(values)


def build(rows: list[dict], positions: list[int], where: str, templates: dict,
          options: list | None) -> None:
    """Steps 1-2, in place."""
    if not templates and options is None:
        return
    for row, pos in zip(rows, positions):
        built = {name: fill(t, row, _place(where, pos), name) for name, t in templates.items()}
        row.update(built)
        if options is not None:
            row["options"] = list(options)


def _options_of(row: dict, place: str, answer_is: str) -> list | None:
    opts = row.get("options")
    if isinstance(opts, Mapping):
        keys = [str(k).strip().upper() for k in opts]
        if sorted(keys) != list(LETTERS[:len(keys)]):
            raise _error(f"{place}: the options are a dict whose keys ({', '.join(map(str, opts))}) are not the "
                         f"letters A, B, C, ... in sequence")
        by_letter = dict(zip(keys, opts.values()))
        opts = [by_letter[k] for k in sorted(keys)]
        row["options"] = opts
    if opts is None and answer_is in ("index0", "index1", "letter"):
        raise _error(f"{place}: answer_is \"{answer_is}\" needs an options column (a list, or a dict of "
                     f"letter -> text), and the row has none: map one with columns: or give options:")
    if opts is not None and not isinstance(opts, (list, tuple)):
        raise _error(f"{place}: the options must be a list or a dict of letter -> text, got "
                     f"{type(opts).__name__} ({str(opts)[:40]!r})")
    return opts


def _index(value, base: int, place: str, opts: list, answer_is: str) -> int:
    raw = value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _error(f"{place}: answer {raw!r} is not an index (answer_is \"{answer_is}\" expects a whole "
                     f"number counted from {base})")
    i = value - base
    if not 0 <= i < len(opts):
        raise _error(f"{place}: answer index {value} is out of range: the row has {len(opts)} options, "
                     f"numbered {base} to {len(opts) - 1 + base} (answer_is \"{answer_is}\")")
    return i


_TRUE = ("true", "yes", "1")
_FALSE = ("false", "no", "0")


def _yes_no(value, place: str, opts: list | None):
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        value = value.strip().lower() in _TRUE
    if not isinstance(value, bool):
        raise _error(f"{place}: answer {value!r} is not true or false (answer_is \"bool\")")
    want = "yes" if value else "no"
    if opts is None:
        return want
    hit = [o for o in opts if isinstance(o, str) and o.strip().lower() == want]
    if not hit:
        raise _error(f"{place}: answer {value!r} is \"{want}\", which is not among the options "
                     f"({', '.join(map(str, opts))}) (answer_is \"bool\")")
    return hit[0]


def map_answers(rows: list[dict], positions: list[int], where: str, answer_is: str) -> None:
    """Step 4, in place."""
    for row, pos in zip(rows, positions):
        place = _place(where, pos)
        if answer_is == "text":  # the answer as it is; dict options become a list
            _options_of(row, place, answer_is)
            continue
        if "answer" not in row:
            raise _error(f"{place}: answer_is \"{answer_is}\" maps the 'answer' column, and the row has none; "
                         f"its columns: {', '.join(map(str, row))} (map one with columns: {{answer: \"...\"}})")
        opts = _options_of(row, place, answer_is)
        value = row["answer"]
        if answer_is in ("index0", "index1"):
            row["answer"] = opts[_index(value, int(answer_is[-1]), place, opts, answer_is)]
        elif answer_is == "letter":
            i = letter_index(value)
            if i is None:
                raise _error(f"{place}: answer {value!r} is not an option letter (answer_is \"letter\": A, b, "
                             f"(C), ...)")
            if i >= len(opts):
                raise _error(f"{place}: answer {value!r} is not among the options' letters "
                             f"{LETTERS[0]}-{LETTERS[len(opts) - 1]} (the row has {len(opts)} options)")
            row["answer"] = opts[i]
        elif answer_is == "bool":
            row["answer"] = _yes_no(value, place, opts)


def check_text_answers(rows: list[dict], positions: list[int], where: str, options: list) -> None:
    """With ``options:`` and a text answer, each row's answer must be one of those options
    (``Maybe`` against ``maybe`` would otherwise score every such row wrong, silently)."""
    for row, pos in zip(rows, positions):
        if "answer" in row and row["answer"] not in options:
            raise _error(f"{_place(where, pos)}: answer {row['answer']!r} is not among the options "
                         f"({', '.join(options)}); give answer_is: (index0, index1, letter, bool) if the file "
                         "gives it another way")
