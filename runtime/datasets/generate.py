"""Generate collab's own small QA data sets (the ``builtin:NAME`` sources).

Every row is produced here from templates and small fact tables written for this project;
nothing is copied from an outside data set. The output is deterministic: running

    python runtime/datasets/generate.py            # rewrite the files next to this script
    python runtime/datasets/generate.py --out DIR  # write them somewhere else
    python runtime/datasets/generate.py --check    # exit 1 if the shipped files are stale

rewrites ``arithmetic/``, ``science-mc/`` and ``commonsense-mc/`` (``train.jsonl`` and
``test.jsonl`` each) plus ``index.json`` byte for byte. Only the standard library is used.

Schemas:
  arithmetic      {id, question, answer, rationale}; answer is an integer written as a string,
                  the rationale works the problem step by step and ends "So the answer is N."
  science-mc,     {id, question, options, answer, rationale}; options are 4 distinct strings,
  commonsense-mc  answer is the text of the correct option, the rationale ends
                  "So the answer is (x) text." where x is the option's letter (a-d).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

SEED = 20241122
N_TRAIN = 300
N_TEST = 100
LETTERS = "abcd"
HERE = Path(__file__).resolve().parent

DESCRIPTIONS = {
    "arithmetic": "One- and two-step arithmetic word problems with worked rationales.",
    "science-mc": "Four-option multiple-choice science questions (grade-school level).",
    "commonsense-mc": "Four-option multiple-choice everyday commonsense questions.",
}
SCHEMAS = {
    "arithmetic": ["id", "question", "answer", "rationale"],
    "science-mc": ["id", "question", "options", "answer", "rationale"],
    "commonsense-mc": ["id", "question", "options", "answer", "rationale"],
}
ID_PREFIX = {"arithmetic": "arith", "science-mc": "sci", "commonsense-mc": "cs"}


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

def _an(word: str) -> str:
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class MC:
    """One multiple-choice item before its options are shuffled."""

    __slots__ = ("answer", "distractors", "explanation", "question")

    def __init__(self, question: str, answer: str, distractors, explanation: str):
        self.question = question
        self.answer = answer
        self.distractors = list(distractors)
        self.explanation = explanation


def _pick(rng: random.Random, pool, k: int, exclude=()) -> list:
    """k distinct items from pool (order kept stable before sampling), none in exclude."""
    seen = {str(x).lower() for x in exclude}
    cands = []
    for x in pool:
        if str(x).lower() not in seen:
            seen.add(str(x).lower())
            cands.append(x)
    if len(cands) < k:
        raise ValueError(f"not enough distractors in {pool!r} excluding {exclude!r}")
    return rng.sample(cands, k)


def _mc_rows(rng: random.Random, items: list[MC]) -> list[dict]:
    """Rows with shuffled options; the correct letter is a, b, c, d equally often."""
    positions = [i % len(LETTERS) for i in range(len(items))]
    rng.shuffle(positions)
    return [_mc_row(rng, item, pos) for item, pos in zip(items, positions, strict=True)]


def _mc_row(rng: random.Random, item: MC, position: int) -> dict:
    if len(item.distractors) != 3:
        raise ValueError(f"need exactly 3 distractors: {item.question!r}")
    options = [item.answer, *item.distractors]
    if len({o.strip().lower() for o in options}) != 4 or any(not o.strip() for o in options):
        raise ValueError(f"options are not 4 distinct strings: {item.question!r} {options!r}")
    options = list(item.distractors)
    rng.shuffle(options)
    options.insert(position, item.answer)
    letter = LETTERS[position]
    explanation = item.explanation.strip()
    if not explanation.endswith("."):
        explanation += "."
    return {
        "question": item.question,
        "options": options,
        "answer": item.answer,
        "rationale": f"{explanation} So the answer is ({letter}) {item.answer}.",
    }


# --------------------------------------------------------------------------------------
# arithmetic word problems
# --------------------------------------------------------------------------------------

NAMES = [  # (name, subject pronoun, possessive)
    ("Maya", "she", "her"), ("Liam", "he", "his"), ("Sofia", "she", "her"),
    ("Omar", "he", "his"), ("Aisha", "she", "her"), ("Ethan", "he", "his"),
    ("Lena", "she", "her"), ("Mateo", "he", "his"), ("Priya", "she", "her"),
    ("Kenji", "he", "his"), ("Chloe", "she", "her"), ("Noah", "he", "his"),
    ("Mei", "she", "her"), ("Ravi", "he", "his"), ("Hana", "she", "her"),
    ("Samuel", "he", "his"), ("Zoe", "she", "her"), ("Diego", "he", "his"),
    ("Nora", "she", "her"), ("Jonas", "he", "his"), ("Fatima", "she", "her"),
    ("Kwame", "he", "his"), ("Grace", "she", "her"), ("Leo", "he", "his"),
    ("Lucia", "she", "her"), ("Hassan", "he", "his"), ("Amara", "she", "her"),
    ("Tomas", "he", "his"), ("Ines", "she", "her"), ("Felix", "he", "his"),
    ("Yuki", "she", "her"), ("Arjun", "he", "his"), ("Elena", "she", "her"),
    ("Marcus", "he", "his"), ("Olivia", "she", "her"), ("Ben", "he", "his"),
]
ITEMS = ["apples", "pencils", "stickers", "marbles", "crayons", "balloons", "seashells",
         "stamps", "baseball cards", "beads", "toy cars", "postcards", "buttons", "oranges",
         "notebooks", "feathers"]
BUYABLE = ["apples", "pencils", "stickers", "marbles", "crayons", "balloons", "stamps",
           "baseball cards", "beads", "toy cars", "postcards", "oranges", "notebooks"]
CONTAINERS = [  # (singular, plural, contents)
    ("box", "boxes", "crayons"), ("crate", "crates", "apples"), ("pack", "packs", "pencils"),
    ("carton", "cartons", "eggs"), ("bag", "bags", "marbles"), ("shelf", "shelves", "books"),
    ("jar", "jars", "cookies"), ("tray", "trays", "muffins"), ("basket", "baskets", "oranges"),
    ("tin", "tins", "buttons"), ("album", "albums", "photos"), ("vase", "vases", "flowers"),
]
PRICED = [  # (singular, plural, price range)
    ("notebook", "notebooks", (2, 6)), ("sandwich", "sandwiches", (4, 9)),
    ("comic book", "comic books", (3, 8)), ("toy car", "toy cars", (2, 7)),
    ("pen", "pens", (1, 4)), ("cupcake", "cupcakes", (2, 5)), ("plant", "plants", (5, 12)),
    ("ticket", "tickets", (6, 15)), ("T-shirt", "T-shirts", (8, 15)),
    ("kite", "kites", (6, 12)), ("ball", "balls", (3, 9)), ("puzzle", "puzzles", (7, 14)),
]
THINGS = ["book", "board game", "pair of shoes", "jacket", "backpack", "video game",
          "bike helmet", "watch", "guitar strap", "lamp"]
BAKED = [("cookies", "tray"), ("muffins", "tray"), ("rolls", "batch"), ("cupcakes", "tray"),
         ("pancakes", "stack"), ("dumplings", "batch")]
VEHICLES = [("car", 40, 90), ("train", 60, 120), ("bus", 30, 70), ("cyclist", 10, 25),
            ("truck", 40, 80), ("boat", 10, 30)]
EVENTS = ["zoo", "museum", "aquarium", "circus", "school play", "science fair", "water park",
          "concert"]
ROOMS = ["school hall", "theater", "church hall", "lecture room", "community center",
         "cinema"]
PLANTS = [("tomato plants", "tomato plant"), ("sunflowers", "sunflower"),
          ("bean plants", "bean plant"), ("rose bushes", "rose bush"),
          ("pepper plants", "pepper plant"), ("lettuce plants", "lettuce plant")]
INSTRUMENTS = ["piano", "violin", "guitar", "flute", "drums", "trumpet", "cello"]
ACTIVITIES = [("runs", "kilometers"), ("swims", "laps"), ("cycles", "kilometers"),
              ("walks", "kilometers")]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
NUMBER_WORDS = {2: "twice", 3: "three times", 4: "four times", 5: "five times"}


def _people(rng: random.Random, k: int):
    return rng.sample(NAMES, k)


def _t_add(rng):
    (a, p, _), (b_name, _, _) = _people(rng, 2)
    item = rng.choice(BUYABLE)
    x, y = rng.randint(5, 60), rng.randint(3, 40)
    verb = rng.choice([f"buys {y} more {item} at the store",
                       f"gets {y} more {item} from {b_name}",
                       f"wins {y} more {item} at a school fair"])
    q = f"{a} has {x} {item}. {_cap(p)} {verb}. How many {item} does {a} have now?"
    r = f"{a} starts with {x} {item} and gets {y} more, so {p} has {x} + {y} = {x + y} {item}."
    return q, x + y, r


def _t_sub(rng):
    (a, p, _), (b, _, _) = _people(rng, 2)
    item = rng.choice(ITEMS)
    x = rng.randint(15, 90)
    y = rng.randint(3, x - 2)
    q = (f"{a} had {x} {item}. {_cap(p)} gave {y} of them to {b}. "
         f"How many {item} does {a} have left?")
    r = f"{a} had {x} {item} and gave away {y}, so {p} has {x} - {y} = {x - y} {item} left."
    return q, x - y, r


def _t_mult(rng):
    sing, plur, what = rng.choice(CONTAINERS)
    k, n = rng.randint(3, 15), rng.randint(2, 12)
    q = f"Each {sing} holds {k} {what}. How many {what} are there in {n} full {plur}?"
    r = f"There are {n} {plur} with {k} {what} in each, so there are {n} * {k} = {n * k} {what}."
    return q, n * k, r


def _t_div(rng):
    (a, _, _), = _people(rng, 1)
    item = rng.choice(ITEMS)
    n, each = rng.randint(2, 9), rng.randint(3, 15)
    total = n * each
    q = (f"{a} has {total} {item} and shares them equally among {n} friends. "
         f"How many {item} does each friend get?")
    r = f"{total} {item} shared equally among {n} friends gives {total} / {n} = {each} {item} each."
    return q, each, r


def _t_add_mult(rng):
    (a, p, _), = _people(rng, 1)
    item = rng.choice(BUYABLE)
    x, n, k = rng.randint(3, 30), rng.randint(2, 6), rng.randint(4, 12)
    q = (f"{a} has {x} {item}. {_cap(p)} buys {n} packs with {k} {item} in each pack. "
         f"How many {item} does {a} have now?")
    r = (f"The packs hold {n} * {k} = {n * k} {item}. Adding the {x} {p} already had gives "
         f"{x} + {n * k} = {x + n * k} {item}.")
    return q, x + n * k, r


def _t_change(rng):
    (a, p, _), = _people(rng, 1)
    _sing, plur, (lo, hi) = rng.choice(PRICED)
    price, n = rng.randint(lo, hi), rng.randint(2, 5)
    cost = price * n
    bill = next(b for b in (10, 20, 50, 100) if b > cost)
    q = (f"{a} buys {n} {plur} that cost ${price} each and pays with a ${bill} bill. "
         f"How many dollars of change does {p} get?")
    r = (f"The {plur} cost {n} * {price} = {cost} dollars. The change is "
         f"{bill} - {cost} = {bill - cost} dollars.")
    return q, bill - cost, r


def _t_savings(rng):
    (a, p, _), = _people(rng, 1)
    x, w = rng.randint(3, 25), rng.randint(3, 12)
    saved = x * w
    y = rng.randint(2, saved - 1)
    thing = rng.choice(THINGS)
    q = (f"{a} saves ${x} every week for {w} weeks. Then {p} spends ${y} on {_an(thing)}. "
         f"How many dollars does {a} have left?")
    r = (f"{a} saves {x} * {w} = {saved} dollars. After spending {y} dollars, {p} has "
         f"{saved} - {y} = {saved - y} dollars left.")
    return q, saved - y, r


def _t_pages(rng):
    (a, p, _), = _people(rng, 1)
    per, d = rng.randint(5, 30), rng.randint(2, 9)
    read = per * d
    total = read + rng.randint(5, 150)
    q = (f"{a}'s book has {total} pages. {_cap(p)} reads {per} pages every day for {d} days. "
         f"How many pages does {p} still have to read?")
    r = (f"{a} reads {per} * {d} = {read} pages. The pages left are "
         f"{total} - {read} = {total - read}.")
    return q, total - read, r


def _t_give_two(rng):
    (a, p, _), (b, _, _), (c, _, _) = _people(rng, 3)
    item = rng.choice(ITEMS)
    y, z = rng.randint(2, 20), rng.randint(2, 20)
    x = y + z + rng.randint(1, 40)
    q = (f"{a} had {x} {item}. {_cap(p)} gave {y} to {b} and {z} to {c}. "
         f"How many {item} does {a} have left?")
    r = (f"{a} gave away {y} + {z} = {y + z} {item}. That leaves {x} - {y + z} = "
         f"{x - y - z} {item}.")
    return q, x - y - z, r


def _t_baked(rng):
    (a, _, _), = _people(rng, 1)
    what, unit = rng.choice(BAKED)
    n, k = rng.randint(2, 6), rng.randint(6, 14)
    made = n * k
    e = rng.randint(2, made - 1)
    fate = rng.choice(["the family ate", "the neighbors bought", "the team ate",
                       "the neighbors took"])
    q = (f"{a} made {n} {unit}{'es' if unit.endswith('ch') else 's'} of {what} with {k} {what} "
         f"in each. Later {fate} {e} of them. How many {what} are left?")
    r = (f"{a} made {n} * {k} = {made} {what}. After {e} were gone, "
         f"{made} - {e} = {made - e} are left.")
    return q, made - e, r


def _t_distance(rng):
    name, lo, hi = rng.choice(VEHICLES)
    s, h = rng.randint(lo // 5, hi // 5) * 5, rng.randint(2, 6)
    q = (f"A {name} travels at a steady {s} kilometers per hour for {h} hours. "
         f"How many kilometers does it travel?")
    r = f"Distance is speed times time: {s} * {h} = {s * h} kilometers."
    return q, s * h, r


def _t_times_as_many(rng):
    (a, _, _), (b, _, _) = _people(rng, 2)
    item = rng.choice(ITEMS)
    x, m = rng.randint(3, 30), rng.choice([2, 3, 4, 5])
    q = (f"{a} has {x} {item}. {b} has {NUMBER_WORDS[m]} as many {item} as {a}. "
         f"How many {item} do they have altogether?")
    r = (f"{b} has {m} * {x} = {m * x} {item}. Together they have {x} + {m * x} = "
         f"{x + m * x} {item}.")
    return q, x + m * x, r


def _t_tickets(rng):
    event = rng.choice(EVENTS)
    pa, pc = rng.randint(8, 20), rng.randint(3, 7)
    na, nc = rng.randint(1, 4), rng.randint(1, 5)
    total = pa * na + pc * nc
    q = (f"Tickets to the {event} cost ${pa} for each adult and ${pc} for each child. "
         f"How many dollars do {na} adult{'s' if na > 1 else ''} and {nc} "
         f"child{'ren' if nc > 1 else ''} pay in total?")
    r = (f"The adult tickets cost {na} * {pa} = {na * pa} dollars and the child tickets cost "
         f"{nc} * {pc} = {nc * pc} dollars. The total is {na * pa} + {nc * pc} = {total} dollars.")
    return q, total, r


def _t_chairs(rng):
    room = rng.choice(ROOMS)
    rows, per = rng.randint(4, 15), rng.randint(5, 12)
    seats = rows * per
    taken = rng.randint(3, seats - 1)
    q = (f"A {room} has {rows} rows of chairs with {per} chairs in each row. "
         f"{taken} chairs are taken. How many chairs are empty?")
    r = (f"There are {rows} * {per} = {seats} chairs, so "
         f"{seats} - {taken} = {seats - taken} are empty.")
    return q, seats - taken, r


def _t_wage(rng):
    (a, p, _), = _people(rng, 1)
    rate, hours = rng.randint(8, 20), rng.randint(2, 8)
    earned = rate * hours
    spend = rng.randint(3, earned - 1)
    day = rng.choice(DAYS)
    q = (f"{a} earns ${rate} an hour and works {hours} hours on {day}. {_cap(p)} then spends "
         f"${spend} on groceries. How many dollars does {p} have left from that day's pay?")
    r = (f"{a} earns {rate} * {hours} = {earned} dollars. After spending {spend} dollars, "
         f"{earned} - {spend} = {earned - spend} dollars are left.")
    return q, earned - spend, r


def _t_fewer(rng):
    (a, _, _), (b, _, _) = _people(rng, 2)
    item = rng.choice(ITEMS)
    x = rng.randint(12, 60)
    y = rng.randint(2, x - 3)
    q = (f"{a} has {x} {item}. {b} has {y} fewer {item} than {a}. "
         f"How many {item} do they have together?")
    r = (f"{b} has {x} - {y} = {x - y} {item}. Together they have {x} + {x - y} = "
         f"{2 * x - y} {item}.")
    return q, 2 * x - y, r


def _t_bags(rng):
    (a, p, _), = _people(rng, 1)
    item = rng.choice(ITEMS)
    k, n = rng.randint(3, 12), rng.randint(3, 12)
    total = k * n
    q = (f"{a} has {total} {item} and puts them into bags of {k}, with none left over. "
         f"How many bags does {p} fill?")
    r = f"Each bag holds {k} {item}, so {total} / {k} = {n} bags are filled."
    return q, n, r


def _t_ages(rng):
    (a, _, _), (b, _, _) = _people(rng, 2)
    x, y, z = rng.randint(5, 15), rng.randint(2, 9), rng.randint(2, 10)
    q = f"{a} is {x} years old. {b} is {y} years older than {a}. How old will {b} be in {z} years?"
    r = (f"{b} is {x} + {y} = {x + y} years old now. In {z} years {b} will be "
         f"{x + y} + {z} = {x + y + z} years old.")
    return q, x + y + z, r


def _t_half(rng):
    (a, p, _), (b, _, _) = _people(rng, 2)
    item = rng.choice(ITEMS)
    x, y = rng.randint(4, 40) * 2, rng.randint(2, 20)
    q = (f"{a} had {x} {item}. {_cap(p)} gave half of them to {b} and then found {y} more. "
         f"How many {item} does {a} have now?")
    r = (f"Half of {x} is {x} / 2 = {x // 2}, so {a} kept {x // 2}. After finding {y} more, "
         f"{p} has {x // 2} + {y} = {x // 2 + y} {item}.")
    return q, x // 2 + y, r


def _t_temperature(rng):
    t, up = rng.randint(5, 20), rng.randint(3, 12)
    down = rng.randint(2, t + up - 1)
    q = (f"The temperature was {t} degrees Celsius in the morning. It rose by {up} degrees by "
         f"noon and then fell by {down} degrees by evening. What was the temperature in the "
         f"evening, in degrees Celsius?")
    end = t + up - down
    r = (f"At noon it was {t} + {up} = {t + up} degrees. In the evening it was "
         f"{t + up} - {down} = {end} degree{'' if end == 1 else 's'}.")
    return q, t + up - down, r


def _t_weekly(rng):
    (a, p, _), = _people(rng, 1)
    verb, unit = rng.choice(ACTIVITIES)
    k, w = rng.randint(2, 9), rng.randint(2, 5)
    days = 7 * w
    q = f"{a} {verb} {k} {unit} every day. How many {unit} does {p} cover in {w} weeks?"
    r = f"{w} weeks have 7 * {w} = {days} days, so {a} covers {days} * {k} = {days * k} {unit}."
    return q, days * k, r


def _t_pizza(rng):
    n, s = rng.randint(3, 8), rng.choice([6, 8, 10, 12])
    pizzas = None
    for p in range(2, 9):
        if (p * s) % n == 0:
            pizzas = p
            break
    each = pizzas * s // n
    q = (f"{n} friends order {pizzas} pizzas, and each pizza is cut into {s} slices. "
         f"If they share the slices equally, how many slices does each friend get?")
    r = (f"There are {pizzas} * {s} = {pizzas * s} slices. Shared by {n} friends, that is "
         f"{pizzas * s} / {n} = {each} slices each.")
    return q, each, r


def _t_garden(rng):
    (a, _, _), = _people(rng, 1)
    plural, _sing = rng.choice(PLANTS)
    rows, per = rng.randint(3, 10), rng.randint(4, 12)
    total = rows * per
    dead = rng.randint(1, min(12, total - 1))
    q = (f"{a} plants {rows} rows of {plural} with {per} in each row. {dead} of them do not "
         f"grow. How many {plural} grow?")
    r = (f"{a} plants {rows} * {per} = {total} {plural}. "
         f"{total} - {dead} = {total - dead} of them grow.")
    return q, total - dead, r


def _t_shopping(rng):
    (a, p, _), = _people(rng, 1)
    (s1, p1, (lo1, hi1)), (s2, _p2, (lo2, hi2)) = rng.sample(PRICED, 2)
    c1, c2, n = rng.randint(lo1, hi1), rng.randint(lo2, hi2), rng.randint(2, 6)
    total = n * c1 + c2
    q = (f"{_cap(_an(s1))} costs ${c1} and {_an(s2)} costs ${c2}. {a} buys {n} {p1} and one "
         f"{s2}. How many dollars does {p} spend?")
    r = (f"The {p1} cost {n} * {c1} = {n * c1} dollars. Adding the {s2} gives "
         f"{n * c1} + {c2} = {total} dollars.")
    return q, total, r


def _t_practice(rng):
    (a, p, _), = _people(rng, 1)
    inst = rng.choice(INSTRUMENTS)
    m, d = rng.choice([10, 15, 20, 25, 30, 35, 40, 45]), rng.randint(3, 12)
    q = (f"{a} practices the {inst} for {m} minutes each day. "
         f"How many minutes does {p} practice in {d} days?")
    r = f"{a} practices {m} minutes on each of {d} days, so {m} * {d} = {m * d} minutes."
    return q, m * d, r


def _t_store(rng):
    item = rng.choice(["bottles of juice", "loaves of bread", "bags of rice", "umbrellas",
                       "watermelons", "flower pots", "pairs of socks", "jars of honey"])
    y, z = rng.randint(5, 40), rng.randint(5, 40)
    x = y + z + rng.randint(3, 60)
    q = (f"A store had {x} {item}. It sold {y} in the morning and {z} in the afternoon. "
         f"How many {item} does it have left?")
    r = f"The store sold {y} + {z} = {y + z}. It has {x} - {y + z} = {x - y - z} {item} left."
    return q, x - y - z, r


def _t_bus(rng):
    a = rng.randint(10, 45)
    off = rng.randint(2, a - 2)
    on = rng.randint(2, 20)
    q = (f"There are {a} people on a bus. At the next stop, {off} people get off and {on} "
         f"people get on. How many people are on the bus now?")
    r = (f"After {off} get off there are {a} - {off} = {a - off} people. After {on} get on there "
         f"are {a - off} + {on} = {a - off + on} people.")
    return q, a - off + on, r


ARITHMETIC_TEMPLATES = [
    _t_add, _t_sub, _t_mult, _t_div, _t_add_mult, _t_change, _t_savings, _t_pages,
    _t_give_two, _t_baked, _t_distance, _t_times_as_many, _t_tickets, _t_chairs, _t_wage,
    _t_fewer, _t_bags, _t_ages, _t_half, _t_temperature, _t_weekly, _t_pizza, _t_garden,
    _t_shopping, _t_practice, _t_store, _t_bus,
]

_EQ = re.compile(r"([\d][\d +\-*/()]*?) = (\d+)")


def _check_equations(text: str) -> None:
    for lhs, rhs in _EQ.findall(text):
        if eval(lhs, {"__builtins__": {}}) != int(rhs):  # digits and + - * / only
            raise ValueError(f"wrong step {lhs} = {rhs} in {text!r}")


def arithmetic_pool(rng: random.Random, n: int) -> list[dict]:
    rows, seen = [], set()
    i = 0
    while len(rows) < n:
        template = ARITHMETIC_TEMPLATES[i % len(ARITHMETIC_TEMPLATES)]
        i += 1
        q, ans, steps = template(rng)
        if q.lower() in seen:
            continue
        if ans <= 0:
            raise ValueError(f"non-positive answer for {q!r}")
        seen.add(q.lower())
        rationale = f"{steps} So the answer is {ans}."
        _check_equations(rationale)
        rows.append({"question": q, "answer": str(ans), "rationale": rationale})
    return rows


# --------------------------------------------------------------------------------------
# science facts
# --------------------------------------------------------------------------------------

SI_UNITS = [  # (quantity, unit, symbol)
    ("length", "meter", "m"), ("mass", "kilogram", "kg"), ("time", "second", "s"),
    ("temperature", "kelvin", "K"), ("electric current", "ampere", "A"),
    ("amount of substance", "mole", "mol"), ("luminous intensity", "candela", "cd"),
    ("force", "newton", "N"), ("energy", "joule", "J"), ("power", "watt", "W"),
    ("pressure", "pascal", "Pa"), ("frequency", "hertz", "Hz"),
    ("electric charge", "coulomb", "C"), ("voltage", "volt", "V"),
    ("electrical resistance", "ohm", "Ω"), ("capacitance", "farad", "F"),
]

MEASURING_TOOLS = [  # (tool, what it measures)
    ("thermometer", "temperature"), ("barometer", "air pressure"),
    ("balance", "mass"), ("ruler", "length"), ("stopwatch", "elapsed time"),
    ("graduated cylinder", "the volume of a liquid"), ("anemometer", "wind speed"),
    ("ammeter", "electric current"), ("voltmeter", "voltage"),
    ("seismograph", "the shaking of the ground during an earthquake"),
    ("hygrometer", "humidity"), ("rain gauge", "the amount of rainfall"),
    ("wind vane", "wind direction"), ("spring scale", "force"),
    ("protractor", "angles"),
]

# instruments that a reader could defend as measuring each other's quantity
TOOL_CLASHES = {"balance": ["spring scale"], "spring scale": ["balance"],
                "graduated cylinder": ["rain gauge"], "rain gauge": ["graduated cylinder"]}

ELEMENTS = [
    ("hydrogen", "H"), ("helium", "He"), ("carbon", "C"), ("nitrogen", "N"), ("oxygen", "O"),
    ("neon", "Ne"), ("sodium", "Na"), ("magnesium", "Mg"), ("aluminum", "Al"),
    ("silicon", "Si"), ("phosphorus", "P"), ("sulfur", "S"), ("chlorine", "Cl"),
    ("argon", "Ar"), ("potassium", "K"), ("calcium", "Ca"), ("iron", "Fe"), ("nickel", "Ni"),
    ("copper", "Cu"), ("zinc", "Zn"), ("silver", "Ag"), ("tin", "Sn"), ("iodine", "I"),
    ("gold", "Au"), ("mercury", "Hg"), ("lead", "Pb"), ("uranium", "U"),
]
LATIN_NAMES = {"Na": "natrium", "K": "kalium", "Fe": "ferrum", "Cu": "cuprum",
               "Ag": "argentum", "Sn": "stannum", "Au": "aurum", "Hg": "hydrargyrum",
               "Pb": "plumbum"}

STATES = [  # (substance, state at about 20 °C)
    ("oxygen", "gas"), ("nitrogen", "gas"), ("helium", "gas"), ("carbon dioxide", "gas"),
    ("neon", "gas"), ("hydrogen", "gas"), ("argon", "gas"), ("chlorine", "gas"),
    ("water", "liquid"), ("mercury metal", "liquid"), ("bromine", "liquid"),
    ("olive oil", "liquid"), ("vinegar", "liquid"), ("gasoline", "liquid"),
    ("ethanol (drinking alcohol)", "liquid"), ("iron", "solid"), ("copper", "solid"),
    ("gold", "solid"), ("table salt", "solid"), ("sugar", "solid"), ("aluminum", "solid"),
    ("window glass", "solid"), ("sulfur", "solid"), ("candle wax", "solid"),
    ("diamond", "solid"),
]

PHASE_CHANGES = [  # (name, from, to)
    ("melting", "solid", "liquid"), ("freezing", "liquid", "solid"),
    ("evaporation", "liquid", "gas"), ("condensation", "gas", "liquid"),
    ("sublimation", "solid", "gas"), ("deposition", "gas", "solid"),
]
PHASE_EXAMPLES = [
    ("Water droplets form on the outside of a glass of ice water on a warm day. "
     "What process makes the droplets?", "condensation",
     "Water vapor in the warm air cools on the cold glass and turns back into liquid water"),
    ("A puddle slowly disappears on a sunny afternoon. What process is happening?",
     "evaporation", "The liquid water in the puddle turns into water vapor, a gas"),
    ("A block of dry ice (solid carbon dioxide) turns straight into gas without becoming a "
     "liquid. What is this process called?", "sublimation",
     "A solid changing directly into a gas is sublimation"),
    ("Frost forms directly from water vapor on a cold window overnight. What is this process "
     "called?", "deposition", "A gas changing directly into a solid is deposition"),
    ("A pond turns to ice on a cold winter night. What process is happening?", "freezing",
     "Liquid water losing heat and turning into solid ice is freezing"),
    ("Chocolate left in a hot car turns soft and runny. What process is happening?", "melting",
     "A solid gaining heat and turning into a liquid is melting"),
]

PLANETS = ["Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"]
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth"]

ANIMAL_CLASSES = {
    "mammal": "mammals breathe air with lungs and feed their young milk",
    "bird": "birds have feathers and lay eggs",
    "reptile": "reptiles have dry, scaly skin and breathe air with lungs",
    "amphibian": "amphibians have moist skin, and most begin life in water",
    "fish": "fish live in water, breathe with gills and have fins",
    "insect": "insects have six legs and three main body parts",
    "arachnid": "arachnids have eight legs and no antennae",
}
ANIMALS = [  # (animal, class, a tempting wrong class or None)
    ("dolphin", "mammal", "fish"), ("whale", "mammal", "fish"), ("bat", "mammal", "bird"),
    ("elephant", "mammal", None), ("kangaroo", "mammal", None), ("platypus", "mammal", "bird"),
    ("horse", "mammal", None), ("tiger", "mammal", None), ("rabbit", "mammal", None),
    ("seal", "mammal", "fish"), ("mouse", "mammal", None), ("giraffe", "mammal", None),
    ("penguin", "bird", "fish"), ("ostrich", "bird", "mammal"), ("eagle", "bird", None),
    ("owl", "bird", None), ("parrot", "bird", None), ("sparrow", "bird", None),
    ("hummingbird", "bird", "insect"), ("flamingo", "bird", None), ("duck", "bird", None),
    ("chicken", "bird", None), ("snake", "reptile", "amphibian"),
    ("crocodile", "reptile", "amphibian"), ("turtle", "reptile", "amphibian"),
    ("lizard", "reptile", "amphibian"), ("alligator", "reptile", None),
    ("iguana", "reptile", None), ("gecko", "reptile", "amphibian"), ("tortoise", "reptile", None),
    ("chameleon", "reptile", "amphibian"), ("frog", "amphibian", "reptile"),
    ("toad", "amphibian", "reptile"), ("salamander", "amphibian", "reptile"),
    ("newt", "amphibian", "reptile"), ("axolotl", "amphibian", "fish"),
    ("shark", "fish", "mammal"), ("salmon", "fish", None), ("tuna", "fish", None),
    ("goldfish", "fish", None), ("trout", "fish", None), ("seahorse", "fish", "mammal"),
    ("eel", "fish", "reptile"), ("clownfish", "fish", None), ("ant", "insect", "arachnid"),
    ("bee", "insect", None), ("butterfly", "insect", "bird"), ("beetle", "insect", "arachnid"),
    ("grasshopper", "insect", None), ("ladybug", "insect", "arachnid"),
    ("mosquito", "insect", None), ("dragonfly", "insect", None),
    ("spider", "arachnid", "insect"), ("scorpion", "arachnid", "insect"),
    ("tick", "arachnid", "insect"),
]

DIETS = [  # (animal, diet, what it eats)
    ("cow", "herbivore", "only plants such as grass"),
    ("deer", "herbivore", "only plants such as leaves, twigs and grass"),
    ("rabbit", "herbivore", "only plants such as grass and vegetables"),
    ("giraffe", "herbivore", "only plants, mostly tree leaves"),
    ("horse", "herbivore", "only plants such as grass and hay"),
    ("koala", "herbivore", "only eucalyptus leaves"),
    ("lion", "carnivore", "only meat from other animals"),
    ("wolf", "carnivore", "meat from other animals"),
    ("tiger", "carnivore", "only meat from other animals"),
    ("shark", "carnivore", "other animals such as fish and seals"),
    ("eagle", "carnivore", "other animals such as fish and small mammals"),
    ("snake", "carnivore", "other animals such as mice, frogs and eggs"),
    ("raccoon", "omnivore", "both plants and animals, such as fruit, nuts, insects and fish"),
    ("brown bear", "omnivore", "both plants and animals, such as berries, roots and fish"),
    ("pig", "omnivore", "both plant foods and animal foods"),
    ("chimpanzee", "omnivore", "both plants and animals, such as fruit, leaves and insects"),
    ("chicken", "omnivore", "both seeds and small animals such as insects and worms"),
    ("human", "omnivore", "both plant foods and animal foods"),
]

ORGANS = [  # (organ, is plural, "Which organ ...?" clause, job phrase)
    ("heart", False, "pumps blood through the body", "pumping blood through the body"),
    ("lungs", True, "take in oxygen and give off carbon dioxide when we breathe",
     "taking in oxygen and getting rid of carbon dioxide"),
    ("stomach", False, "mixes food with acid and starts breaking down proteins",
     "breaking down food with acid and churning"),
    ("brain", False, "controls the body and lets us think and remember",
     "controlling the body, thinking and remembering"),
    ("kidneys", True, "filter wastes out of the blood to make urine",
     "filtering wastes from the blood to make urine"),
    ("small intestine", False, "absorbs most nutrients from digested food into the blood",
     "absorbing nutrients from digested food"),
    ("skin", False, "covers the body and protects it from germs and drying out",
     "covering and protecting the body"),
    ("liver", False, "makes bile, which helps the body digest fats",
     "making bile to help digest fats"),
]

PLANT_PARTS = [  # (part, is plural, clause, job phrase)
    ("roots", True, "take in water and minerals from the soil",
     "taking in water and minerals from the soil"),
    ("leaves", True, "make most of the plant's food using sunlight",
     "making food for the plant using sunlight"),
    ("stem", False, "holds the plant up and carries water from the roots to the leaves",
     "holding the plant up and carrying water to the leaves"),
    ("flower", False, "makes seeds after it is pollinated",
     "making seeds after pollination"),
]

SCIENCE_FACTS = [  # (question, answer, [3 distractors], explanation)
    ("What force pulls objects toward the center of the Earth?", "gravity",
     ["friction", "magnetism", "buoyancy"],
     "Gravity is the force of attraction that pulls objects toward the center of the Earth"),
    ("What force slows down a book sliding across a table?", "friction",
     ["magnetism", "buoyancy", "surface tension"],
     "Friction between the book and the table acts against the motion and slows the book"),
    ("What kind of energy does an object have because it is moving?", "kinetic energy",
     ["potential energy", "chemical energy", "nuclear energy"],
     "The energy of motion is called kinetic energy"),
    ("A book resting on a high shelf has which kind of energy because of its height?",
     "gravitational potential energy", ["kinetic energy", "sound energy", "electrical energy"],
     "An object raised above the ground stores gravitational potential energy"),
    ("At sea level, at what temperature does pure water boil?", "100 °C",
     ["0 °C", "50 °C", "212 °C"],
     "At sea level pure water boils at 100 °C, which is 212 °F"),
    ("At sea level, at what temperature does pure water freeze?", "0 °C",
     ["100 °C", "32 °C", "-20 °C"],
     "At sea level pure water freezes at 0 °C, which is 32 °F"),
    ("Which of these travels the fastest?", "light",
     ["sound", "a jet airplane", "a rifle bullet"],
     "Light travels about 300,000 kilometers per second, much faster than sound, airplanes "
     "or bullets"),
    ("Through which of these can sound NOT travel?", "empty space (a vacuum)",
     ["water", "air", "steel"],
     "Sound is a vibration that needs matter to travel through, so it cannot cross a vacuum"),
    ("Which color of visible light has the longest wavelength?", "red",
     ["violet", "blue", "green"],
     "In the visible spectrum red light has the longest wavelength and violet the shortest"),
    ("What does a glass prism do to a beam of white light?",
     "It splits the light into a band of colors.",
     ["It turns the light into sound.", "It makes the light travel faster.",
      "It turns the light completely black."],
     "A prism bends each color of light by a different amount, spreading white light into a "
     "spectrum"),
    ("What happens to light when it hits a flat mirror?", "It is reflected.",
     ["It passes straight through.", "It is turned into sound.", "It speeds up."],
     "A mirror's shiny surface bounces, or reflects, the light that hits it"),
    ("Which of these materials is a good conductor of electricity?", "copper",
     ["rubber", "glass", "dry wood"],
     "Copper is a metal that lets electric current flow easily, which is why wires are made "
     "of it"),
    ("Which of these materials is a good electrical insulator?", "rubber",
     ["copper", "aluminum", "iron"],
     "Rubber does not let electric current flow easily, so it is used to insulate wires"),
    ("Which of these objects would a magnet attract?", "an iron nail",
     ["a plastic spoon", "a glass marble", "a wooden pencil"],
     "Magnets attract objects made of iron, and plastic, glass and wood are not magnetic"),
    ("What are the two ends of a bar magnet called?", "the north pole and the south pole",
     ["the positive and negative terminals", "the anode and the cathode",
      "the east pole and the west pole"],
     "Every magnet has a north pole and a south pole at its two ends"),
    ("What happens when the north poles of two magnets are pushed toward each other?",
     "They repel each other.",
     ["They attract each other.", "They lose their magnetism.", "They start to glow."],
     "Like poles of magnets repel, and opposite poles attract"),
    ("A ramp used to roll a heavy barrel onto a truck is which simple machine?",
     "inclined plane", ["lever", "pulley", "wheel and axle"],
     "A ramp is a sloping surface, which is an inclined plane"),
    ("A seesaw on a playground is an example of which simple machine?", "lever",
     ["pulley", "screw", "inclined plane"],
     "A seesaw is a bar that turns on a fixed point, the fulcrum, so it is a lever"),
    ("Which simple machine at the top of a flagpole helps raise the flag?", "pulley",
     ["lever", "wedge", "screw"],
     "A rope running over a grooved wheel at the top of the pole is a pulley"),
    ("The blade of an axe, which splits wood apart, is an example of which simple machine?",
     "wedge", ["pulley", "wheel and axle", "screw"],
     "An axe blade is thick at one end and thin at the other and pushes wood apart, so it is "
     "a wedge"),
    ("A doorknob that turns a rod inside the door is an example of which simple machine?",
     "wheel and axle", ["pulley", "wedge", "inclined plane"],
     "The knob is a wheel fixed to a rod, the axle, so it is a wheel and axle"),
    ("What kind of energy is stored in a battery?", "chemical energy",
     ["sound energy", "nuclear energy", "light energy"],
     "A battery stores chemical energy and changes it into electrical energy when used"),
    ("A solar panel changes light energy into which form of energy?", "electrical energy",
     ["sound energy", "nuclear energy", "chemical energy"],
     "Solar cells turn sunlight directly into electricity"),
    ("Which form of energy does a toaster mainly produce from electricity?",
     "thermal energy (heat)", ["sound energy", "chemical energy", "nuclear energy"],
     "A toaster's wires get hot when current flows, turning electrical energy into heat"),
    ("According to Newton's third law, what happens when you push on a wall?",
     "The wall pushes back on you with an equal force.",
     ["The wall pulls you toward it.", "Nothing pushes back on you.",
      "The wall pushes back with twice the force."],
     "Newton's third law says every action has an equal and opposite reaction"),
    ("What is the name for an object's tendency to keep doing what it is doing, staying at "
     "rest or moving in a straight line?", "inertia", ["friction", "gravity", "buoyancy"],
     "Inertia is the resistance of an object to any change in its motion"),
    ("Which of these is a renewable source of energy?", "wind",
     ["coal", "oil", "natural gas"],
     "Wind is replaced naturally and will not run out, while coal, oil and natural gas are "
     "fossil fuels"),
    ("Which of these is a fossil fuel?", "coal", ["wind", "sunlight", "geothermal heat"],
     "Coal formed over millions of years from the remains of ancient plants, so it is a "
     "fossil fuel"),
    ("Which gas makes up most of Earth's atmosphere?", "nitrogen",
     ["oxygen", "carbon dioxide", "argon"],
     "About 78% of the air is nitrogen, while oxygen is about 21%"),
    ("About how long does it take Earth to spin once on its axis?", "about 24 hours",
     ["about 1 hour", "about 7 days", "about 365 days"],
     "One full turn of Earth on its axis takes about 24 hours, which is one day"),
    ("About how long does it take Earth to travel once around the Sun?", "about 365 days",
     ["about 24 hours", "about 30 days", "about 10 years"],
     "One trip of Earth around the Sun takes about 365 days, which is one year"),
    ("What causes day and night on Earth?", "Earth spinning on its axis",
     ["Earth moving around the Sun", "the Moon blocking the Sun", "clouds covering the Sun"],
     "As Earth spins, each place turns toward the Sun (day) and then away from it (night)"),
    ("What causes the seasons on Earth?", "the tilt of Earth's axis as Earth orbits the Sun",
     ["Earth's changing distance from the Sun", "the Sun getting hotter and cooler",
      "clouds blocking sunlight"],
     "Because Earth's axis is tilted, each hemisphere gets more direct sunlight for part of "
     "the year"),
    ("What is the Sun?", "a star", ["a planet", "a moon", "a comet"],
     "The Sun is a star, a huge ball of hot gas that makes its own light"),
    ("Why does the Moon shine in the night sky?", "It reflects light from the Sun.",
     ["It makes its own light.", "It is covered in burning gas.",
      "It reflects light from Earth's cities."],
     "The Moon does not make light; it reflects sunlight"),
    ("What mainly causes the ocean tides on Earth?", "the Moon's gravity",
     ["wind blowing over the ocean", "earthquakes under the sea", "Earth's magnetic field"],
     "The Moon's gravity pulls on Earth's oceans, raising and lowering the water"),
    ("Which layer is at the very center of the Earth?", "the inner core",
     ["the crust", "the mantle", "the outer core"],
     "Earth's layers from the outside in are the crust, mantle, outer core and inner core"),
    ("What is melted rock beneath Earth's surface called?", "magma",
     ["lava", "granite", "sediment"],
     "Melted rock underground is magma; it is called lava once it reaches the surface"),
    ("Which type of rock forms when magma or lava cools and hardens?", "igneous rock",
     ["sedimentary rock", "metamorphic rock", "limestone"],
     "Igneous rock forms when melted rock cools and becomes solid"),
    ("Which type of rock forms when layers of sand, mud and shells are pressed together over "
     "a long time?", "sedimentary rock", ["igneous rock", "metamorphic rock", "volcanic glass"],
     "Sedimentary rock forms from layers of sediment that are pressed and cemented together"),
    ("Which type of rock forms when existing rock is changed by great heat and pressure?",
     "metamorphic rock", ["sedimentary rock", "igneous rock", "volcanic ash"],
     "Metamorphic rock is rock that has been changed by heat and pressure deep underground"),
    ("In the water cycle, what is rain, snow, sleet or hail falling from clouds called?",
     "precipitation", ["evaporation", "condensation", "transpiration"],
     "Water falling from clouds in any form is called precipitation"),
    ("What is the process by which plants give off water vapor through their leaves?",
     "transpiration", ["precipitation", "condensation", "respiration"],
     "Transpiration is the loss of water vapor through small openings in leaves"),
    ("Which natural mineral is the hardest?", "diamond", ["quartz", "talc", "gold"],
     "Diamond is rated 10, the highest, on the Mohs scale of mineral hardness"),
    ("Which star is the closest to Earth?", "the Sun", ["Polaris", "Sirius", "Betelgeuse"],
     "The Sun is a star, and it is about 150 million kilometers away, far closer than any "
     "other star"),
    ("Which gas do plants take in from the air to make food by photosynthesis?",
     "carbon dioxide", ["oxygen", "nitrogen", "helium"],
     "In photosynthesis plants combine carbon dioxide and water using light energy"),
    ("Which gas do plants release into the air during photosynthesis?", "oxygen",
     ["carbon dioxide", "nitrogen", "methane"],
     "Photosynthesis produces sugar and releases oxygen as a by-product"),
    ("What is the green pigment in leaves that captures light for photosynthesis?",
     "chlorophyll", ["melanin", "hemoglobin", "keratin"],
     "Chlorophyll is the green pigment that absorbs light energy in plants"),
    ("Where do green plants get the energy they use to make food?", "sunlight",
     ["the soil", "the wind", "the Moon"],
     "Plants capture energy from sunlight during photosynthesis"),
    ("What is the basic unit of structure and function in all living things?", "the cell",
     ["the organ", "the tissue", "the organ system"],
     "All living things are made of one or more cells, the basic unit of life"),
    ("Which part of a plant or animal cell holds most of its DNA?", "the nucleus",
     ["the cell wall", "the vacuole", "the cell membrane"],
     "The nucleus contains the cell's chromosomes, which are made of DNA"),
    ("Which blood cells carry oxygen around the body?", "red blood cells",
     ["white blood cells", "platelets", "nerve cells"],
     "Red blood cells contain hemoglobin, which carries oxygen"),
    ("Which bone protects the brain?", "the skull", ["the ribs", "the spine", "the pelvis"],
     "The skull is the bony case around the brain"),
    ("Which bones protect the heart and lungs?", "the ribs",
     ["the skull", "the femur", "the kneecap"],
     "The rib cage surrounds and protects the heart and lungs"),
    ("Which vitamin does human skin make when it is exposed to sunlight?", "vitamin D",
     ["vitamin C", "vitamin A", "vitamin K"],
     "Skin makes vitamin D when ultraviolet light from the Sun reaches it"),
    ("How many legs does an insect have?", "six", ["four", "eight", "ten"],
     "All adult insects have six legs"),
    ("How many legs does a spider have?", "eight", ["six", "ten", "four"],
     "Spiders are arachnids, and arachnids have eight legs"),
    ("What does a caterpillar become after its pupa stage?", "a butterfly or moth",
     ["a beetle", "a spider", "a worm"],
     "Caterpillars are the larvae of butterflies and moths and change into adults inside a "
     "pupa"),
    ("What is a young frog that lives in water and has a tail called?", "a tadpole",
     ["a cub", "a calf", "a chick"],
     "Frogs hatch from eggs as tadpoles, which live in water and breathe with gills"),
    ("Which group of animals is the only one with feathers?", "birds",
     ["mammals", "reptiles", "fish"],
     "Feathers are found only on birds"),
    ("What do mammal mothers feed their young?", "milk", ["seeds", "nectar", "insects"],
     "Mammal mothers make milk to feed their babies"),
    ("What are animals that are active at night and sleep during the day called?", "nocturnal",
     ["diurnal", "migratory", "dormant"],
     "Nocturnal animals, such as owls and bats, are active at night"),
    ("What is it called when animals travel long distances each year to find food or warmer "
     "weather?", "migration", ["hibernation", "camouflage", "pollination"],
     "Seasonal long-distance travel by animals is called migration"),
    ("What is it called when an animal's color or pattern helps it blend into its "
     "surroundings?", "camouflage", ["migration", "hibernation", "metamorphosis"],
     "Camouflage helps an animal hide by matching its surroundings"),
    ("What is it called when an animal spends the winter in a deep, sleep-like state with a "
     "slowed body?", "hibernation", ["migration", "camouflage", "photosynthesis"],
     "During hibernation an animal's heart rate and breathing slow down to save energy"),
    ("What do bees carry from flower to flower that helps plants make seeds?", "pollen",
     ["sap", "soil", "sand"],
     "Pollen carried between flowers fertilizes them so they can make seeds"),
    ("In a food chain, what are organisms that make their own food, such as green plants, "
     "called?", "producers", ["consumers", "decomposers", "predators"],
     "Producers make their own food, usually by photosynthesis"),
    ("What are organisms such as fungi and bacteria that break down dead plants and animals "
     "called?", "decomposers", ["producers", "herbivores", "predators"],
     "Decomposers break down dead matter and return nutrients to the soil"),
    ("What is the chemical formula for water?", "H2O", ["CO2", "O2", "NaCl"],
     "A water molecule has two hydrogen atoms and one oxygen atom, H2O"),
    ("What is the chemical formula for carbon dioxide?", "CO2", ["H2O", "CO", "O3"],
     "Carbon dioxide has one carbon atom and two oxygen atoms, CO2"),
    ("What is the common name for sodium chloride?", "table salt",
     ["sugar", "baking soda", "chalk"],
     "Sodium chloride, NaCl, is ordinary table salt"),
    ("What is the pH of pure water at 25 °C?", "7", ["0", "3", "14"],
     "Pure water is neutral, and a neutral solution has a pH of 7"),
    ("Which acid gives lemons their sour taste?", "citric acid",
     ["sulfuric acid", "hydrochloric acid", "nitric acid"],
     "Lemons and other citrus fruits contain citric acid"),
    ("What is the smallest particle of an element that still has the properties of that "
     "element?", "an atom", ["a cell", "a grain", "a crystal"],
     "An element is made of one kind of atom, the smallest unit that keeps its properties"),
    ("Which particle in an atom has a negative electric charge?", "the electron",
     ["the proton", "the neutron", "the nucleus"],
     "Electrons are negative, protons are positive and neutrons have no charge"),
    ("Which particle in an atom's nucleus has no electric charge?", "the neutron",
     ["the proton", "the electron", "the photon"],
     "The nucleus holds positive protons and neutral neutrons"),
    ("What is a mixture called in which a substance such as salt dissolves completely in "
     "water?", "a solution", ["a suspension", "an alloy", "a precipitate"],
     "When a substance dissolves evenly in a liquid, the mixture is a solution"),
    ("Besides oxygen, what must iron be exposed to in order to rust?", "water",
     ["nitrogen", "helium", "sand"],
     "Iron rusts when it reacts with oxygen in the presence of water or moisture"),
    ("Which planet is known as the Red Planet?", "Mars", ["Venus", "Jupiter", "Mercury"],
     "Mars looks red because its surface dust contains iron oxide, or rust"),
    ("Which planet is the largest in our solar system?", "Jupiter",
     ["Saturn", "Neptune", "Earth"],
     "Jupiter is the largest planet; more than 1,000 Earths could fit inside it"),
    ("Which planet is the smallest in our solar system?", "Mercury",
     ["Mars", "Venus", "Earth"],
     "Mercury is the smallest of the eight planets"),
    ("Which planet has the hottest surface?", "Venus", ["Mercury", "Mars", "Jupiter"],
     "Venus's thick carbon dioxide atmosphere traps heat, making it hotter than Mercury"),
    ("Which planet is famous for its large, bright system of rings?", "Saturn",
     ["Mars", "Venus", "Mercury"],
     "Saturn has the biggest and brightest ring system, made of ice and rock"),
    ("Which planet spins on its side, with its axis tilted about 98 degrees?", "Uranus",
     ["Earth", "Mars", "Jupiter"],
     "Uranus's axis is tipped so far that it rotates on its side"),
    ("Which planet has the Great Red Spot, a giant storm larger than Earth?", "Jupiter",
     ["Mars", "Earth", "Venus"],
     "The Great Red Spot is a huge, long-lasting storm on Jupiter"),
    ("Which planet is the only one known to support life?", "Earth",
     ["Mars", "Venus", "Jupiter"],
     "Earth is the only planet where life has been found"),
    ("Which planet has two small moons named Phobos and Deimos?", "Mars",
     ["Earth", "Venus", "Mercury"],
     "Phobos and Deimos are the two moons of Mars"),
    ("How many planets are in our solar system?", "8", ["7", "9", "10"],
     "There are eight planets: Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus and "
     "Neptune"),
    ("What is the name of the galaxy that contains our solar system?", "the Milky Way",
     ["Andromeda", "the Large Magellanic Cloud", "the Whirlpool Galaxy"],
     "Our solar system is part of the Milky Way galaxy"),
    ("At sea level, at what temperature in degrees Fahrenheit does pure water freeze?",
     "32 °F", ["0 °F", "100 °F", "212 °F"],
     "Water freezes at 32 °F, which is the same as 0 °C"),
    ("At sea level, at what temperature in degrees Fahrenheit does pure water boil?",
     "212 °F", ["100 °F", "32 °F", "180 °F"],
     "Water boils at 212 °F at sea level, which is the same as 100 °C"),
    ("In which part of a plant cell does photosynthesis take place?", "the chloroplast",
     ["the nucleus", "the cell wall", "the vacuole"],
     "Chloroplasts contain chlorophyll and are where photosynthesis happens"),
    ("Which part of a cell releases energy from food during cellular respiration?",
     "the mitochondrion", ["the chloroplast", "the nucleus", "the cell wall"],
     "Mitochondria break down sugar to release energy the cell can use"),
    ("What carries messages between the brain and the rest of the body?", "the nerves",
     ["the veins", "the tendons", "the bones"],
     "Nerves carry electrical signals to and from the brain and spinal cord"),
    ("Which blood vessels carry blood away from the heart?", "arteries",
     ["veins", "nerves", "tendons"],
     "Arteries carry blood away from the heart, and veins carry it back"),
    ("What connects muscles to bones?", "tendons", ["ligaments", "cartilage", "nerves"],
     "Tendons attach muscles to bones, while ligaments connect bones to other bones"),
    ("What is the largest organ of the human body?", "the skin",
     ["the liver", "the brain", "the heart"],
     "The skin covers the whole body and is its largest organ"),
    ("What is the change from a caterpillar into a butterfly called?", "metamorphosis",
     ["photosynthesis", "migration", "pollination"],
     "A big change in body form during an animal's life cycle is metamorphosis"),
    ("What happens to most solids, liquids and gases when they are heated?", "They expand.",
     ["They shrink.", "They become magnetic.", "They lose mass."],
     "Heating makes particles move faster and spread apart, so most materials expand"),
    ("Which has more mass: one kilogram of feathers or one kilogram of iron?",
     "They have the same mass.",
     ["the iron", "the feathers", "It depends on the weather."],
     "One kilogram is one kilogram, whatever the material"),
    ("An object that floats in water must be what compared with water?",
     "less dense than water", ["denser than water", "magnetic", "colder than water"],
     "Objects less dense than water float and denser objects sink"),
    ("Which of these is a chemical change?", "burning wood",
     ["melting ice", "cutting paper", "breaking a glass"],
     "Burning makes new substances such as ash and smoke, so it is a chemical change"),
    ("Which of these is a physical change?", "melting an ice cube",
     ["burning paper", "rusting iron", "baking a cake"],
     "Melting changes only the state of the water, not what it is made of"),
    ("What is the path a planet follows around the Sun called?", "its orbit",
     ["its axis", "its eclipse", "its galaxy"],
     "A planet's curved path around the Sun is its orbit"),
    ("What is it called when the Moon passes between the Sun and Earth and blocks the "
     "Sun's light?", "a solar eclipse", ["a lunar eclipse", "a meteor shower", "a full moon"],
     "When the Moon blocks the Sun as seen from Earth, it is a solar eclipse"),
    ("Which gas must humans breathe in to stay alive?", "oxygen",
     ["carbon dioxide", "helium", "neon"],
     "Our cells need oxygen, which we take in with every breath"),
    ("Where in the human body does digestion begin?", "the mouth",
     ["the stomach", "the small intestine", "the large intestine"],
     "Digestion starts in the mouth, where teeth chew food and saliva begins to break it down"),
    ("What are animals with a backbone called?", "vertebrates",
     ["invertebrates", "arthropods", "mollusks"],
     "Vertebrates, such as fish, birds and mammals, have a backbone"),
    ("Which of these animals is an invertebrate?", "an earthworm",
     ["a dog", "a snake", "a frog"],
     "An earthworm has no backbone, while dogs, snakes and frogs are vertebrates"),
    ("Which direction does the north-seeking end of a compass needle point?", "north",
     ["south", "east", "west"],
     "A compass needle is a small magnet that lines up with Earth's magnetic field"),
]


def science_items(rng: random.Random) -> list[MC]:
    items: list[MC] = []
    add = items.append

    for q, ans, ds, ex in SCIENCE_FACTS:
        add(MC(q, ans, ds, ex))

    units = [u for _, u, _ in SI_UNITS]
    quantities = [q for q, _, _ in SI_UNITS]
    for qty, unit, sym in SI_UNITS:
        ex = f"The {unit} (symbol {sym}) is the SI unit of {qty}"
        add(MC(f"What is the SI unit of {qty}?", unit, _pick(rng, units, 3, [unit]), ex))
        add(MC(f"The {unit} is the SI unit of which quantity?", qty,
               _pick(rng, quantities, 3, [qty]), ex))

    tools = [t for t, _ in MEASURING_TOOLS]
    measures = dict(MEASURING_TOOLS)
    for tool, what in MEASURING_TOOLS:
        ex = f"{_cap(_an(tool))} is used to measure {what}"
        clash = TOOL_CLASHES.get(tool, [])
        add(MC(f"Which instrument is used to measure {what}?", tool,
               _pick(rng, tools, 3, [tool, *clash]), ex))
        add(MC(f"What does {_an(tool)} measure?", what,
               _pick(rng, list(measures.values()), 3, [what, *(measures[c] for c in clash)]), ex))

    symbols = [s for _, s in ELEMENTS]
    names = [n for n, _ in ELEMENTS]
    for name, sym in ELEMENTS:
        latin = f", from its Latin name {LATIN_NAMES[sym]}" if sym in LATIN_NAMES else ""
        ex = f"The chemical symbol of {name} is {sym}{latin}"
        similar = [s for s in symbols if s != sym and s[0] in (sym[0], name[0].upper())]
        ds = _pick(rng, similar, min(2, len(similar)), [sym])
        ds += _pick(rng, symbols, 3 - len(ds), [sym, *ds])
        add(MC(f"What is the chemical symbol for {name}?", sym, ds, ex))
        similar = [n for n in names if n != name and n[0] == sym[0].lower()]
        ds = _pick(rng, similar, min(2, len(similar)), [name])
        ds += _pick(rng, names, 3 - len(ds), [name, *ds])
        add(MC(f"Which element has the chemical symbol {sym}?", name, ds, ex))

    for substance, state in STATES:
        ex = f"At about 20 °C, {substance} is a {state}"
        add(MC(f"At room temperature (about 20 °C), what state of matter is {substance}?",
               state, [s for s in ("solid", "liquid", "gas", "plasma") if s != state], ex))

    pc_names = [n for n, _, _ in PHASE_CHANGES]
    pc_pairs = [f"from {a} to {b}" for _, a, b in PHASE_CHANGES]
    for name, a, b in PHASE_CHANGES:
        ex = f"{_cap(name)} is the change of state from a {a} to a {b}"
        add(MC(f"What is the change of state from a {a} to a {b} called?", name,
               _pick(rng, pc_names, 3, [name]), ex))
        pair = f"from {a} to {b}"
        add(MC(f"During {name}, how does the state of a substance change?", pair,
               _pick(rng, pc_pairs, 3, [pair]), ex))
    for q, ans, ex in PHASE_EXAMPLES:
        add(MC(q, ans, _pick(rng, pc_names, 3, [ans]), ex))

    for i, planet in enumerate(PLANETS):
        near_i = sorted((j for j in range(len(PLANETS)) if j != i), key=lambda j: abs(j - i))[:4]
        near = [PLANETS[j] for j in near_i]
        ex = (f"In order from the Sun the planets are {', '.join(PLANETS[:-1])} and "
              f"{PLANETS[-1]}, so {planet} is {ORDINALS[i]}")
        add(MC(f"Counting outward from the Sun, which planet is the {ORDINALS[i]}?", planet,
               _pick(rng, near, 3, [planet]), ex))
        near_ord = [ORDINALS[j] for j in near_i]
        add(MC(f"Counting outward from the Sun, what is {planet}'s position among the planets?",
               ORDINALS[i], _pick(rng, near_ord, 3, [ORDINALS[i]]), ex))

    classes = list(ANIMAL_CLASSES)
    for animal, cls, tempting in ANIMALS:
        ds = [tempting] if tempting else []
        ds += _pick(rng, classes, 3 - len(ds), [cls, *ds])
        add(MC(f"Which group of animals does {_an(animal)} belong to?", cls, ds,
               f"{_cap(_an(animal))} is {_an(cls)}: {ANIMAL_CLASSES[cls]}"))

    for animal, diet, food in DIETS:
        others = [d for d in ("herbivore", "carnivore", "omnivore", "decomposer") if d != diet]
        add(MC(f"Based on what it eats, which term describes {_an(animal)}?", diet, others,
               f"{_cap(_an(animal))} eats {food}, so it is {_an(diet)}"))

    for table, kind in ((ORGANS, "organ"), (PLANT_PARTS, "plant part")):
        parts = [p for p, *_ in table]
        jobs = [j for *_, j in table]
        for part, plural, clause, job in table:
            the = f"the {part}"
            ex = f"The {part} {clause}"
            which = f"Which {kind}s" if plural else f"Which {kind}"
            if kind == "plant part":
                which = "Which parts of a plant" if plural else "Which part of a plant"
            add(MC(f"{which} {clause}?", the, [f"the {p}" for p in _pick(rng, parts, 3, [part])],
                   ex))
            whose = "" if kind == "organ" else " of a plant"
            add(MC(f"What is the main job of the {part}{whose}?", job,
                   _pick(rng, jobs, 3, [job]), f"The main job of the {part} is {job}"))

    movers = [("car", 40, 110), ("train", 60, 150), ("cyclist", 10, 30), ("runner", 10, 15),
              ("boat", 10, 40), ("bus", 30, 80), ("horse", 15, 40), ("truck", 40, 90)]
    seen = set()
    while len(seen) < 16:
        mover, lo, hi = rng.choice(movers)
        s, t = rng.randint(lo // 5, hi // 5) * 5, rng.randint(2, 6)
        if (mover, s, t) in seen:
            continue
        seen.add((mover, s, t))
        d = s * t
        add(MC(f"A {mover} travels {d} kilometers in {t} hours at a constant speed. "
               f"What is the {mover}'s speed?", f"{s} km/h",
               [f"{d * t} km/h", f"{d + t} km/h", f"{d - t} km/h"],
               f"Speed is distance divided by time: {d} km / {t} h = {s} km/h"))
    seen = set()
    while len(seen) < 14:
        dens, vol = rng.randint(2, 9), rng.randint(3, 20)
        if (dens, vol) in seen:
            continue
        seen.add((dens, vol))
        m = dens * vol
        add(MC(f"A solid block has a mass of {m} grams and a volume of {vol} cubic centimeters. "
               f"What is its density?", f"{dens} g/cm³",
               [f"{m * vol} g/cm³", f"{m + vol} g/cm³", f"{m - vol} g/cm³"],
               f"Density is mass divided by volume: {m} g / {vol} cm³ = {dens} g/cm³"))
    seen = set()
    objects = ["cart", "sled", "box", "wagon", "crate", "bicycle"]
    while len(seen) < 14:
        obj, m, a = rng.choice(objects), rng.randint(2, 40), rng.randint(2, 9)
        if (m, a) in seen or m * a in (m + a, m - a):
            continue
        seen.add((m, a))
        add(MC(f"What net force is needed to accelerate a {obj} of mass {m} kg at {a} m/s²?",
               f"{m * a} N", [f"{m + a} N", f"{abs(m - a) or m * a * 2} N", f"{m * a * 10} N"],
               f"By Newton's second law, force = mass * acceleration = {m} kg * {a} m/s² = "
               f"{m * a} N"))
    return items


# --------------------------------------------------------------------------------------
# commonsense facts
# --------------------------------------------------------------------------------------

TOOLS = [  # (name, noun phrase, plural, tag, "What would you use to ...?", "mainly used for ...")
    ("scissors", "scissors", True, "cut", "cut a shape out of paper", "cutting paper and cloth"),
    ("key", "a key", False, "lock", "unlock your front door", "opening locks"),
    ("shovel", "a shovel", False, "garden", "dig a hole in the garden", "digging in soil"),
    ("towel", "a towel", False, "textile", "dry yourself after a shower", "drying yourself off"),
    ("broom", "a broom", False, "clean", "sweep dust off the floor", "sweeping floors"),
    ("kettle", "a kettle", False, "heat", "boil water for tea", "boiling water"),
    ("hammer", "a hammer", False, "build", "drive a nail into a board", "hitting nails"),
    ("screwdriver", "a screwdriver", False, "build", "tighten a loose screw", "turning screws"),
    ("flashlight", "a flashlight", False, "light", "see your way during a power outage at night",
     "giving light in the dark"),
    ("umbrella", "an umbrella", False, "sun", "stay dry while walking in the rain",
     "keeping the rain off you"),
    ("needle and thread", "a needle and thread", True, "sew", "sew a button back onto a shirt",
     "sewing cloth"),
    ("alarm clock", "an alarm clock", False, "time", "wake up at six o'clock in the morning",
     "waking you up at a set time"),
    ("camera", "a camera", False, "picture", "take photographs on vacation", "taking pictures"),
    ("comb", "a comb", False, "hair", "untangle your hair", "tidying hair"),
    ("toothbrush", "a toothbrush", False, "teeth", "clean your teeth", "cleaning teeth"),
    ("ladder", "a ladder", False, "reach", "climb onto the roof of a house",
     "climbing up to high places"),
    ("vacuum cleaner", "a vacuum cleaner", False, "clean", "suck up dust from a carpet",
     "cleaning carpets and floors"),
    ("oven", "an oven", False, "heat", "bake a loaf of bread", "baking and roasting food"),
    ("refrigerator", "a refrigerator", False, "cold", "keep milk cold",
     "keeping food and drinks cold"),
    ("clothes iron", "a clothes iron", False, "clothes", "smooth the wrinkles out of a shirt",
     "pressing wrinkles out of clothes"),
    ("stapler", "a stapler", False, "paper", "fasten several sheets of paper together",
     "fastening papers together"),
    ("eraser", "an eraser", False, "write", "remove a pencil mark from your homework",
     "rubbing out pencil marks"),
    ("ruler", "a ruler", False, "measure", "draw a straight line on paper",
     "measuring lengths and drawing straight lines"),
    ("wallet", "a wallet", False, "carry", "carry your cash and cards in your pocket",
     "holding money and cards"),
    ("watering can", "a watering can", False, "garden", "water the flowers in a window box",
     "watering plants"),
    ("dictionary", "a dictionary", False, "words", "look up what a word means",
     "looking up the meanings of words"),
    ("paintbrush", "a paintbrush", False, "art", "paint a picture with watercolors",
     "spreading paint"),
    ("pillow", "a pillow", False, "textile", "rest your head on in bed",
     "resting your head while you sleep"),
    ("blanket", "a blanket", False, "textile", "keep warm in bed on a cold night",
     "keeping warm in bed"),
    ("rake", "a rake", False, "clean", "gather fallen leaves into a pile",
     "gathering leaves and loose grass"),
    ("saw", "a saw", False, "cut", "cut a wooden board in half", "cutting wood"),
    ("envelope", "an envelope", False, "mail", "send a letter through the mail",
     "holding a letter that you mail"),
    ("backpack", "a backpack", False, "carry", "carry your books to school",
     "carrying things on your back"),
    ("sunscreen", "sunscreen", False, "sun", "protect your skin from sunburn at the beach",
     "protecting skin from the sun"),
    ("soap", "soap", False, "wash", "wash dirt off your hands", "washing off dirt and germs"),
    ("bandage", "a bandage", False, "first aid", "cover a small cut on your finger",
     "covering cuts and scrapes"),
    ("calculator", "a calculator", False, "numbers", "multiply two large numbers quickly",
     "doing arithmetic"),
    ("helmet", "a helmet", False, "safety", "protect your head while riding a bicycle",
     "protecting your head"),
    ("leash", "a leash", False, "pet", "take your dog for a walk on a busy street",
     "keeping a dog close on a walk"),
    ("fishing rod", "a fishing rod", False, "fish", "catch fish from a lake", "catching fish"),
    ("thermos", "a thermos", False, "heat", "keep your soup hot until lunchtime",
     "keeping drinks hot or cold"),
    ("corkscrew", "a corkscrew", False, "open", "pull the cork out of a bottle",
     "removing corks from bottles"),
]

FOUND_AT = [  # (question, answer place, [wrong places], explanation)
    ("Where would you most likely find a stethoscope?", "a doctor's office",
     ["a bakery", "a garage", "a library", "a farm"],
     "Doctors use a stethoscope to listen to patients' hearts and lungs"),
    ("Where would you most likely find shopping carts?", "a supermarket",
     ["a hospital", "a classroom", "a bedroom", "a swimming pool"],
     "Shoppers push carts around a supermarket to carry their groceries"),
    ("Where would you most likely find a chalkboard and rows of student desks?", "a classroom",
     ["a kitchen", "a barn", "a gas station", "a beach"],
     "Teachers write on chalkboards for students sitting at desks in a classroom"),
    ("In which room of a house would you most likely find a bathtub?", "the bathroom",
     ["the kitchen", "the garage", "the dining room", "the attic"],
     "People bathe in the bathroom, where the bathtub is"),
    ("In which room of a house would you most likely find a stove?", "the kitchen",
     ["the bedroom", "the bathroom", "the garage", "the hallway"],
     "A stove is used for cooking, which is done in the kitchen"),
    ("Where would you most likely see a long runway for planes?", "an airport",
     ["a shopping mall", "a library", "a school", "a hospital"],
     "Planes take off and land on runways at airports"),
    ("Where would you most likely see a tractor and bales of hay?", "a farm",
     ["an office building", "a library", "an airport", "a movie theater"],
     "Farmers use tractors in their fields and store hay to feed animals"),
    ("Where would you most likely find swings and a slide for children?", "a playground",
     ["a bank", "a post office", "a hospital", "a factory"],
     "Swings and slides are built for children to play on at a playground"),
    ("Where would you most likely find treadmills and weight machines?", "a gym",
     ["a library", "a bakery", "a post office", "a church"],
     "People exercise on treadmills and weight machines at a gym"),
    ("Where would you most likely buy a bucket of popcorn before watching a film on a big "
     "screen?", "a movie theater", ["a bank", "a hospital", "a library", "a gas station"],
     "Movie theaters show films on big screens and sell popcorn"),
    ("Where would you most likely see a lifeguard sitting in a tall chair?", "a swimming pool",
     ["a library", "an office", "a bakery", "a classroom"],
     "Lifeguards watch over swimmers, for example at a swimming pool"),
    ("Where would a librarian most likely work?", "a library",
     ["a farm", "a fire station", "a gas station", "a zoo"],
     "A librarian looks after the books in a library"),
    ("Where would you most likely find test tubes and microscopes?", "a laboratory",
     ["a bakery", "a barn", "a bus stop", "a shoe store"],
     "Scientists use test tubes and microscopes in a laboratory"),
    ("Where would you most likely find fire trucks parked between calls?", "a fire station",
     ["a bakery", "a library", "a supermarket", "a movie theater"],
     "Fire trucks wait at the fire station until there is an emergency"),
    ("Where would you most likely see a lion, a zebra and a giraffe in one afternoon in a big "
     "city?", "a zoo", ["a supermarket", "a bank", "a post office", "a dentist's office"],
     "A city zoo keeps wild animals from around the world"),
    ("Where would you most likely build a sandcastle?", "a beach",
     ["a library", "an office", "a kitchen", "a bank"],
     "Sandcastles are built from the sand on a beach"),
    ("Where would you most likely find a hospital bed with a heart monitor next to it?",
     "a hospital", ["a hardware store", "a school gym", "a restaurant", "a bank"],
     "Patients are monitored in hospital beds"),
    ("Where would you most likely sleep in a tent?", "a campsite",
     ["an office", "a supermarket", "a bank", "a classroom"],
     "People put up tents to sleep in when camping at a campsite"),
    ("Where do wild camels most often live?", "the desert",
     ["the Arctic", "the rainforest", "the deep ocean"],
     "Camels are adapted to hot, dry deserts and can go a long time without water"),
    ("Where do wild polar bears live?", "the Arctic",
     ["the desert", "the rainforest", "a tropical island"],
     "Polar bears live on the sea ice and cold coasts of the Arctic"),
    ("Where would you most likely see coral reefs and colorful tropical fish?", "the ocean",
     ["a desert", "a mountain top", "a pine forest"],
     "Coral reefs grow in warm, shallow ocean water"),
    ("Where do people usually keep ice cream at home so it stays frozen?", "the freezer",
     ["the oven", "the bookshelf", "the closet", "the dishwasher"],
     "A freezer stays below 0 °C, so ice cream stays frozen there"),
    ("Where do people usually hang their clothes at home?", "a closet",
     ["the oven", "the bathtub", "the refrigerator", "the mailbox"],
     "A closet has a rail and hangers for clothes"),
    ("Where would you most likely find a conveyor belt carrying suitcases to travelers?",
     "an airport", ["a school", "a farm", "a library", "a bakery"],
     "Airports return checked suitcases to passengers on a baggage conveyor belt"),
    ("Where would you most likely find a judge, a jury and a witness stand?", "a courthouse",
     ["a bakery", "a swimming pool", "a gym", "a campsite"],
     "Trials with judges, juries and witnesses take place in a courthouse"),
    ("Where does a car usually get its tank filled with fuel?", "a gas station",
     ["a library", "a bakery", "a hair salon", "a post office"],
     "Gas stations have pumps that sell fuel for cars"),
    ("Where would you most likely see a stage, curtains and rows of seats for watching a "
     "play?", "a theater", ["a barn", "a garage", "a laundromat", "a gas station"],
     "Plays are performed on the stage of a theater"),
    ("Where would you most likely see passengers waiting on a platform with tracks beside "
     "it?", "a train station", ["a shopping mall", "a hospital", "a library", "a farm"],
     "Passengers wait on platforms beside the tracks to board trains at a train station"),
]

GO_TO = [  # (place, "Where would you go to ...?", "What do people mainly go to PLACE to do?",
           #  places that would also be right for the first question)
    ("a library", "borrow a book for free", "borrow books", []),
    ("a pharmacy", "fill a doctor's prescription for medicine", "pick up medicine",
     ["a hospital", "a supermarket"]),
    ("a post office", "mail a package to another city", "send letters and packages", []),
    ("a bank", "open a savings account", "keep and manage their money", []),
    ("an airport", "catch a flight to another country", "board airplanes", []),
    ("a zoo", "see elephants and lions in person in a city", "look at wild animals", []),
    ("a gas station", "fill up your car's fuel tank", "buy fuel for their cars", []),
    ("a bakery", "buy freshly baked bread and pastries", "buy bread and cakes",
     ["a supermarket", "a restaurant"]),
    ("a barbershop", "get a haircut", "get their hair cut", ["a hair salon"]),
    ("a dentist's office", "get a cavity in your tooth filled", "have their teeth checked",
     ["a hospital"]),
    ("a swimming pool", "swim laps", "swim", ["a hotel"]),
    ("a stadium", "watch a professional soccer match live", "watch big sports games", []),
    ("an art museum", "see famous paintings", "look at works of art", []),
    ("a supermarket", "buy milk, eggs, vegetables and cereal in one trip",
     "buy groceries", []),
    ("a restaurant", "eat a meal cooked by a chef", "eat meals cooked for them",
     ["a bakery", "a hotel"]),
    ("a laundromat", "wash your clothes in shared coin-operated machines",
     "wash and dry clothes", []),
    ("a train station", "catch a train to another city", "board trains", []),
    ("a hotel", "rent a room for the night while traveling", "stay overnight when traveling",
     []),
    ("a hardware store", "buy nails, screws and a new hammer", "buy tools and building supplies",
     []),
    ("a movie theater", "watch a new film on a giant screen", "watch films", []),
    ("a hospital", "get emergency surgery after a bad accident", "get medical treatment",
     ["a doctor's office", "a dentist's office", "a pharmacy"]),
    ("a school", "attend classes taught by teachers", "learn from teachers", []),
    ("a veterinary clinic", "get your sick cat treated", "get care for their pets",
     ["a hospital", "a doctor's office"]),
    ("a car wash", "get the mud cleaned off your car", "get their cars cleaned",
     ["a gas station"]),
]

JOBS = [  # (job, "Who ...?", "What does a JOB do?" answer, jobs that would also fit)
    ("dentist", "Who should you visit if you have a toothache?", "takes care of people's teeth",
     []),
    ("firefighter", "Who puts out fires and rescues people from burning buildings?",
     "puts out fires and rescues people", []),
    ("plumber", "Who would you call to fix a leaking pipe under the sink?",
     "fixes water pipes and drains", []),
    ("pilot", "Who flies an airplane?", "flies airplanes", ["astronaut"]),
    ("mail carrier", "Who delivers letters to people's homes?", "delivers letters and packages",
     []),
    ("veterinarian", "Who treats sick pets?", "treats sick and injured animals", []),
    ("teacher", "Who teaches lessons to students in a classroom?", "teaches students", []),
    ("chef", "Who cooks the meals in a restaurant kitchen?", "cooks food in a restaurant",
     ["baker"]),
    ("farmer", "Who grows crops and raises animals for food?", "grows crops and raises animals",
     []),
    ("mechanic", "Who repairs cars that will not start?", "repairs cars and engines", []),
    ("librarian", "Who helps people find books in a library?",
     "helps people find books and information in a library", ["teacher"]),
    ("barber", "Who cuts people's hair at a barbershop?", "cuts hair", []),
    ("police officer", "Who enforces the law and arrests people who commit crimes?",
     "enforces the law and keeps people safe", ["judge"]),
    ("carpenter", "Who builds cabinets and furniture out of wood?", "builds things out of wood",
     []),
    ("electrician", "Who would you call to fix faulty wiring in a house?",
     "installs and repairs electrical wiring", []),
    ("baker", "Who gets up before dawn to bake bread to sell?", "bakes bread and cakes",
     ["chef"]),
    ("astronaut", "Who travels into space in a spacecraft?", "travels into space", ["pilot"]),
    ("lifeguard", "Who watches swimmers at a pool and rescues them if they are in trouble?",
     "watches over swimmers and rescues them", []),
    ("cashier", "Who takes your payment at a store's checkout?",
     "takes payments at a checkout", []),
    ("optometrist", "Who checks your eyesight and prescribes glasses?",
     "examines eyes and prescribes glasses", []),
    ("architect", "Who designs buildings and draws their plans?", "designs buildings",
     ["carpenter"]),
    ("tailor", "Who makes suits and alters clothes so they fit?", "makes and alters clothes",
     []),
    ("judge", "Who decides the outcome of cases in a courtroom?", "decides cases in court",
     ["police officer"]),
    ("photographer", "Who takes pictures at weddings for a living?", "takes photographs", []),
]

SOUNDS = [  # (animal, sound noun, verb phrase, animals that also make that sound)
    ("dog", "bark", "barks", []), ("cat", "meow", "meows", []), ("cow", "moo", "moos", []),
    ("duck", "quack", "quacks", []), ("horse", "neigh", "neighs", []),
    ("pig", "oink", "oinks", []), ("sheep", "baa", "bleats", []),
    ("lion", "roar", "roars", []), ("owl", "hoot", "hoots", []),
    ("snake", "hiss", "hisses", ["cat"]), ("bee", "buzz", "buzzes", []),
    ("frog", "croak", "croaks", []), ("rooster", "cock-a-doodle-doo", "crows at dawn", []),
    ("donkey", "hee-haw", "brays", []), ("wolf", "howl", "howls at night", ["dog"]),
    ("mouse", "squeak", "squeaks", ["pig"]),
]

ANIMAL_FACTS = [
    ("Which animal is known for its very long neck?", "giraffe",
     ["hippopotamus", "penguin", "beaver"],
     "Giraffes have the longest necks of any animal, which help them reach tall trees"),
    ("Which animal gives us wool for sweaters?", "sheep", ["pig", "chicken", "duck"],
     "Wool is the thick coat of sheep, which is sheared off and spun into yarn"),
    ("Which insect makes honey?", "honeybee", ["ant", "mosquito", "grasshopper"],
     "Honeybees turn flower nectar into honey and store it in their hive"),
    ("Which animal uses its long trunk to pick up food and spray water?", "elephant",
     ["rhinoceros", "giraffe", "zebra"],
     "An elephant's trunk is its long nose, which it uses like a hand and a hose"),
    ("Which animal carries its baby in a pouch on its belly?", "kangaroo",
     ["zebra", "lion", "goat"],
     "Kangaroos are marsupials, and the mother carries her joey in a pouch"),
    ("Which animal has black and white stripes and lives on the African grasslands?", "zebra",
     ["panda", "skunk", "penguin"],
     "Zebras are striped black and white and live in African grasslands"),
    ("Which animal spins a web to catch insects?", "spider", ["snail", "frog", "ladybug"],
     "Spiders make silk webs to trap insects to eat"),
    ("Which animal is famous for slowly changing its skin color to match its surroundings?",
     "chameleon", ["rabbit", "parrot", "beaver"],
     "Chameleons can change the color of their skin"),
    ("Which animal stores fat in the hump on its back, helping it survive in the desert?",
     "camel", ["horse", "elephant", "giraffe"],
     "A camel's hump stores fat that it can use when food is scarce"),
    ("Which animal sleeps hanging upside down and flies at night?", "bat",
     ["owl", "squirrel", "pigeon"],
     "Bats are flying mammals that roost upside down and are active at night"),
    ("Which black and white animal eats mostly bamboo?", "giant panda",
     ["zebra", "penguin", "skunk"],
     "Giant pandas live in China and eat almost nothing but bamboo"),
    ("Which animal builds dams across streams using sticks and mud?", "beaver",
     ["otter", "rabbit", "frog"],
     "Beavers cut down branches with their teeth and build dams and lodges"),
    ("Which farm bird lays most of the eggs people eat?", "chicken",
     ["ostrich", "peacock", "penguin"],
     "Most eggs sold in stores are laid by chickens"),
    ("Which animal is called the king of the jungle and has a shaggy mane?", "lion",
     ["tiger", "bear", "wolf"],
     "Male lions have manes and are often called the king of the jungle"),
    ("Which animal carries a hard shell on its back and can pull its head inside?", "turtle",
     ["frog", "lizard", "rabbit"],
     "A turtle's shell protects it, and many turtles can pull their heads inside"),
    ("Which large gray animal with a horn on its nose lives in Africa and Asia?", "rhinoceros",
     ["hippopotamus", "elephant", "buffalo"],
     "Rhinoceroses have one or two horns on their noses"),
]

FOOD_FROM = [  # (question, answer, wrong ingredients)
    ("What is bread mainly made from?", "flour", ["rice", "milk", "potatoes"],
     "Bread dough is made mainly of flour, water and yeast"),
    ("What are french fries made from?", "potatoes", ["apples", "carrots", "corn"],
     "French fries are strips of potato fried in oil"),
    ("What is cheese made from?", "milk", ["flour", "tomatoes", "peanuts"],
     "Cheese is made by curdling milk and pressing the curds"),
    ("What is ketchup mainly made from?", "tomatoes", ["strawberries", "carrots", "beets"],
     "Ketchup is a sauce made mostly from tomatoes"),
    ("What is peanut butter made from?", "peanuts", ["butter", "almonds", "milk"],
     "Peanut butter is made by grinding roasted peanuts"),
    ("What is popcorn made from?", "corn kernels", ["rice grains", "wheat flour",
                                                    "sunflower seeds"],
     "Popcorn is made by heating corn kernels until they pop"),
    ("What is maple syrup made from?", "the sap of maple trees",
     ["honey", "sugar cane juice", "maple leaves"],
     "Maple syrup is made by boiling down the sap of maple trees"),
    ("What is chocolate made from?", "cacao beans", ["coffee beans", "peanuts", "wheat"],
     "Chocolate is made from the roasted seeds, or beans, of the cacao tree"),
    ("What are raisins?", "dried grapes", ["dried plums", "dried cherries", "dried figs"],
     "Raisins are grapes that have been dried"),
    ("What is guacamole mainly made from?", "avocados", ["peas", "cucumbers", "limes"],
     "Guacamole is a dip made of mashed avocados"),
    ("What is tofu made from?", "soybeans", ["rice", "potatoes", "eggs"],
     "Tofu is made by curdling soy milk, which comes from soybeans"),
    ("What do bees make honey from?", "nectar from flowers", ["tree sap", "pollen", "rainwater"],
     "Bees collect nectar from flowers and turn it into honey"),
    ("What are pickles usually made from?", "cucumbers", ["zucchini", "carrots", "peppers"],
     "Most pickles are cucumbers preserved in salty or vinegary water"),
    ("What is applesauce made from?", "apples", ["pears", "bananas", "peaches"],
     "Applesauce is cooked, mashed apples"),
    ("What is hummus mainly made from?", "chickpeas", ["lentils", "peanuts", "potatoes"],
     "Hummus is a dip made mostly from mashed chickpeas"),
    ("What is an omelet made from?", "eggs", ["flour", "rice", "potatoes"],
     "An omelet is made of beaten eggs cooked in a pan"),
    ("What is orange juice squeezed from?", "oranges", ["lemons", "carrots", "mangoes"],
     "Orange juice is the juice squeezed out of oranges"),
    ("What is butter made from?", "cream", ["olive oil", "eggs", "flour"],
     "Butter is made by churning cream until the fat clumps together"),
    ("What is rice flour made from?", "ground rice", ["ground wheat", "ground corn",
                                                      "ground oats"],
     "Rice flour is rice that has been ground into a powder"),
    ("What is wine made from?", "grapes", ["potatoes", "barley", "rice"],
     "Wine is made by fermenting the juice of grapes"),
]

EVERYDAY = [  # (question, answer, [3 distractors], explanation)
    ("What will most likely happen to an ice cream cone left in the hot sun?", "It will melt.",
     ["It will freeze harder.", "It will grow bigger.", "It will turn into bread."],
     "Heat from the sun warms the ice cream above its melting point"),
    ("What will most likely happen if you drop a glass cup onto a hard tile floor?",
     "It will break.", ["It will bounce back up.", "It will melt.", "It will get bigger."],
     "Glass is brittle, so a hard fall onto tile usually shatters it"),
    ("What happens to a potted plant that gets no water for many weeks?",
     "It wilts and dies.",
     ["It grows taller.", "It grows more flowers.", "It turns into a tree."],
     "Plants need water to live, so without it they wilt and die"),
    ("What will happen if you never charge your phone for several days of use?",
     "The battery will run out.",
     ["The phone will get faster.", "The battery will fill up.", "The screen will get bigger."],
     "Using a phone drains its battery, and without charging it runs out"),
    ("What happens to bread left out uncovered for two weeks?", "It goes stale or moldy.",
     ["It becomes fresher.", "It turns into cake.", "It grows into wheat."],
     "Bread dries out and mold grows on it when it is left out for a long time"),
    ("Why do people put on a coat before going outside on a snowy day?", "to stay warm",
     ["to stay cool", "to run faster", "to get wet"],
     "A coat traps body heat and keeps the cold out"),
    ("What usually happens when you switch off a lamp?", "The light goes out.",
     ["The lamp gets brighter.", "The lamp starts to ring.", "The room gets warmer."],
     "Switching off the lamp stops the current, so the bulb stops glowing"),
    ("What happens to a balloon if you poke it with a sharp pin?", "It pops.",
     ["It floats higher.", "It grows larger.", "It changes color."],
     "The pin tears the stretched rubber and the air rushes out, so the balloon pops"),
    ("What happens to a car when it runs out of fuel?", "It stops running.",
     ["It goes faster.", "It becomes lighter than air.", "It fills up by itself."],
     "The engine needs fuel to run, so it stops when the tank is empty"),
    ("Why would someone set an alarm clock before going to bed?", "to wake up on time",
     ["to fall asleep faster", "to keep the room warm", "to make the night shorter"],
     "An alarm rings at a chosen time so the sleeper wakes up then"),
    ("What happens to a metal spoon left in a pot of boiling soup for a few minutes?",
     "It gets hot.", ["It gets colder.", "It turns into soup.", "It becomes magnetic."],
     "Metal conducts heat well, so the spoon heats up"),
    ("What usually happens to a seed that is planted in damp soil and gets sunlight?",
     "It sprouts and grows.", ["It turns into a rock.", "It shrinks and vanishes.",
                               "It becomes a flower right away."],
     "Water, warmth and light let a seed sprout into a young plant"),
    ("What happens to a snowman when the weather turns warm?", "It melts.",
     ["It grows taller.", "It freezes harder.", "It turns into sand."],
     "Snow melts into water when the temperature rises above freezing"),
    ("What can happen if you do not brush your teeth for a long time?",
     "You can get cavities.", ["Your teeth get stronger.", "Your teeth grow longer.",
                                "Your hair grows faster."],
     "Plaque left on teeth produces acid that causes tooth decay"),
    ("Why do people speak quietly in a library?", "to avoid disturbing other readers",
     ["to make the books last longer", "to keep the lights on", "to save electricity"],
     "People read and study in libraries, and noise would distract them"),
    ("Why do people keep milk in the refrigerator?", "to keep it from spoiling",
     ["to make it warmer", "to turn it into cheese", "to make it sweeter"],
     "Cold slows the growth of the bacteria that make milk go bad"),
    ("Why should you look both ways before crossing a street?", "to check for cars",
     ["to find your shoes", "to see the weather", "to count the trees"],
     "Looking both ways lets you see traffic coming from either direction"),
    ("What happens to a candle as it burns for several hours?", "It gets shorter.",
     ["It gets taller.", "It turns into water.", "It gets heavier."],
     "The flame burns the wax, so the candle becomes shorter"),
    ("Why do people wear sunglasses on a bright sunny day?",
     "to protect their eyes from bright light",
     ["to see in the dark", "to keep their ears warm", "to hear better"],
     "Sunglasses block some sunlight and glare"),
    ("Why does a hiker carry a water bottle on a long, hot hike?",
     "to drink when thirsty", ["to wash the trail", "to keep the backpack light",
                                "to water the trees"],
     "Hiking in the heat makes people sweat and get thirsty"),
    ("Why do people wear seat belts in a car?", "to stay safe if there is a crash",
     ["to make the car go faster", "to keep the car clean", "to keep the seats warm"],
     "A seat belt holds a passenger in place during a sudden stop or crash"),
    ("What happens to a wet towel hung in the warm sun?", "It dries.",
     ["It gets wetter.", "It shrinks to the size of a coin.", "It turns to ice."],
     "The sun's heat makes the water in the towel evaporate"),
    ("What is the most likely reason a dog wags its tail when its owner comes home?",
     "It is happy to see its owner.", ["It is angry.", "It is asleep.", "It is cold."],
     "Dogs often wag their tails when they are excited and happy"),
    ("What do people usually do when they hear a smoke alarm and see smoke in their home?",
     "leave the building quickly", ["go back to sleep", "open the oven",
                                     "turn up the music"],
     "Smoke means there may be a fire, so getting out safely comes first"),
    ("What should you wear on your hands to keep them warm in the snow?", "gloves",
     ["sandals", "sunglasses", "a belt"], "Gloves cover the hands and keep them warm"),
    ("What do people wear around their necks to keep warm in winter?", "a scarf",
     ["a bracelet", "a belt", "flip-flops"], "A scarf is wrapped around the neck for warmth"),
    ("What should you wear to keep rain off your body while walking outside?", "a raincoat",
     ["a swimsuit", "a bathrobe", "a tank top"],
     "A raincoat is made of waterproof material that keeps rain off"),
    ("What would someone most likely wear on their feet to go for a run?", "running shoes",
     ["high heels", "slippers", "rain boots"],
     "Running shoes are light and cushioned for running"),
    ("What would be most comfortable to wear to bed?", "pajamas",
     ["a winter coat", "a suit and tie", "a raincoat"],
     "Pajamas are soft, loose clothes made for sleeping"),
    ("What should you wear when swimming at the beach?", "a swimsuit",
     ["a wool sweater", "a tuxedo", "a winter coat"],
     "A swimsuit is made to be worn in the water"),
    ("What do people usually eat soup with?", "a spoon", ["a fork", "chopsticks", "a straw"],
     "A spoon can hold liquid, so it is used for soup"),
    ("What do people usually drink hot coffee from?", "a mug",
     ["a plate", "a colander", "a paper envelope"],
     "A mug has a handle so hot drinks can be held comfortably"),
    ("What do you need to do before you can read a closed book?", "open it",
     ["close it", "throw it away", "put it in water"],
     "The pages of a closed book cannot be read until it is opened"),
    ("What should you do with a banana peel after eating the banana?",
     "throw it in the trash or compost",
     ["put it back on the shelf", "mail it to a friend", "wear it as a hat"],
     "A banana peel is waste, so it goes in the trash or compost"),
    ("Which of these is the best thing to drink when you are thirsty after exercise?", "water",
     ["salt water", "vinegar", "cooking oil"], "Water replaces the fluid lost through sweat"),
    ("What part of a bicycle do you push with your feet to make it move?", "the pedals",
     ["the handlebars", "the bell", "the seat"],
     "Pushing the pedals turns the chain, which turns the back wheel"),
    ("What part of a car does the driver turn to change direction?", "the steering wheel",
     ["the trunk", "the gas cap", "the rear window"],
     "Turning the steering wheel turns the car's front wheels"),
    ("What part of a shoe do you tie to keep it on your foot?", "the laces",
     ["the heel", "the sole", "the tongue"],
     "Shoelaces are tied to hold the shoe snugly on the foot"),
    ("What part of a house lets people see outside while keeping the wind out?",
     "the windows", ["the doorbell", "the chimney", "the basement"],
     "Windows are made of glass, which you can see through"),
    ("What do you need to turn on to see in a dark room?", "a light",
     ["a faucet", "a fan", "a radio"], "Lights let you see when there is no daylight"),
    ("What do people usually use to pay for things at a store?", "money",
     ["a library card", "a receipt", "a shopping list"], "Stores sell goods in exchange for money"),
    ("When do most people eat breakfast?", "in the morning",
     ["at midnight", "in the evening", "late at night"],
     "Breakfast is the first meal of the day, eaten in the morning"),
    ("What is usually the warmest season of the year in places that have four seasons?",
     "summer", ["winter", "autumn", "spring"],
     "Summer is the warmest of the four seasons"),
    ("What do trees in many cold places lose in autumn?", "their leaves",
     ["their roots", "their trunks", "their bark"],
     "Many trees drop their leaves in autumn to get through the winter"),
    ("Why do people use an umbrella on a rainy day?", "to keep from getting wet",
     ["to stay warm", "to see better", "to walk faster"],
     "An umbrella blocks the rain from falling on you"),
    ("What do you usually do with a letter after you write it and put it in a stamped "
     "envelope?", "mail it", ["eat it", "plant it", "wash it"],
     "A stamped letter is put in the mail so it can be delivered"),
    ("What do people usually do at a red traffic light while driving?", "stop",
     ["speed up", "honk and go", "turn off the car"],
     "A red light means drivers must stop"),
    ("What do people usually do when they feel sleepy at night?", "go to bed",
     ["drink coffee", "go for a run", "start cleaning the house"],
     "Feeling sleepy at night is a sign that it is time to sleep"),
    ("What should you do if your hands are sticky after eating candy?", "wash them",
     ["put on gloves", "clap them", "wave them in the air"],
     "Washing with soap and water removes the sticky sugar"),
    ("What should you use to reach a book on a shelf that is too high for you?",
     "a step stool", ["a pillow", "a fork", "a sponge"],
     "Standing on a step stool lets you reach higher"),
    ("Why would you put a sweater on in a cold room?", "to stay warm",
     ["to cool down", "to get wet", "to fall asleep"],
     "A sweater holds in body heat"),
    ("Why would someone turn on a fan on a hot day?", "to cool off",
     ["to warm up", "to dry the paint", "to hear the radio"],
     "Moving air helps sweat evaporate, which cools the body"),
    ("What do people usually do at a birthday party?", "sing and eat cake",
     ["take a test", "mow the lawn", "pay bills"],
     "Birthday parties usually include singing \"Happy Birthday\" and eating cake"),
    ("Where do people usually put dirty dishes after a meal?", "in the sink or dishwasher",
     ["in the closet", "under the bed", "in the mailbox"],
     "Dirty dishes go to the sink or dishwasher to be washed"),
    ("Which of these would most likely melt if left in a hot car?", "a chocolate bar",
     ["a metal spoon", "a glass bottle", "a rock"],
     "Chocolate melts at a little above body temperature, which a hot car easily reaches"),
    ("Which of these would float on water?", "a wooden stick",
     ["a rock", "an iron nail", "a glass marble"],
     "Wood is less dense than water, so it floats"),
    ("What should you do before eating an orange?", "peel it",
     ["bake it", "freeze it", "paint it"],
     "An orange's thick peel is removed before eating the fruit inside"),
    ("What is the meal eaten in the evening usually called?", "dinner",
     ["breakfast", "brunch", "lunch"],
     "Dinner is the main meal eaten in the evening"),
    ("How many days are in a week?", "7", ["5", "10", "12"],
     "A week has seven days, Monday through Sunday"),
    ("How many months are in a year?", "12", ["10", "7", "24"],
     "A year has twelve months, January through December"),
    ("What do people usually say when someone gives them a gift?", "thank you",
     ["goodbye", "excuse me", "you're welcome"],
     "Saying thank you shows thanks for a gift"),
    ("What should you say if you accidentally bump into someone?", "sorry",
     ["congratulations", "happy birthday", "good night"],
     "Apologizing is polite after an accident that affects someone else"),
    ("What does a green traffic light tell drivers to do?", "go",
     ["stop", "park", "turn around"],
     "Green means go, yellow means slow down and red means stop"),
    ("Which day comes right after Friday?", "Saturday",
     ["Thursday", "Sunday", "Monday"],
     "The days run Thursday, Friday, Saturday, Sunday"),
    ("What would you use to get a closer look at birds on the far side of a lake?",
     "binoculars", ["a magnifying glass", "a mirror", "a flashlight"],
     "Binoculars magnify distant objects"),
    ("What must you stick on an envelope so the post office will deliver it?", "a stamp",
     ["a bookmark", "a paper clip", "a price tag"],
     "A stamp pays for the letter's delivery"),
    ("What do people use to keep their place in a book?", "a bookmark",
     ["a stapler", "a spoon", "an eraser"],
     "A bookmark is placed between the pages to mark where you stopped"),
    ("What do people use to cut the grass in their yard?", "a lawn mower",
     ["a vacuum cleaner", "a hair dryer", "a toaster"],
     "A lawn mower has spinning blades that cut grass"),
    ("What do people wear on their wrist to tell the time?", "a watch",
     ["a ring", "a necklace", "a belt"],
     "A wristwatch shows the time and is worn on the wrist"),
    ("What does a doctor usually tell someone with a cold and a mild fever to do?",
     "rest and drink fluids", ["run a marathon", "stay up all night", "eat only candy"],
     "Rest and fluids help the body fight off a cold"),
    ("What is ice made of?", "frozen water", ["frozen milk", "glass", "plastic"],
     "Ice is water that has frozen solid"),
    ("What usually happens to the sky after the sun sets?", "It gets dark.",
     ["It gets brighter.", "It turns green.", "It fills with rainbows."],
     "Without direct sunlight the sky grows dark at night"),
    ("Where does rain fall from?", "clouds", ["the ground", "trees", "the Moon"],
     "Rain forms in clouds and falls to the ground"),
    ("Why do people lock their doors when they leave home?", "to keep strangers out",
     ["to let in fresh air", "to make the door lighter", "to keep the lights on"],
     "A locked door stops people from walking in while no one is home"),
]

BABY_ANIMALS = [("dog", "puppy"), ("cat", "kitten"), ("cow", "calf"), ("horse", "foal"),
                ("sheep", "lamb"), ("duck", "duckling"), ("bear", "cub"), ("goose", "gosling"),
                ("frog", "tadpole"), ("kangaroo", "joey")]

FEELINGS = [  # (situation with {A}/{p}, answer, 3 distractors, explanation)
    ("{A} just won first place in the school race. How does {A} most likely feel?", "proud",
     ["sad", "scared", "bored"], "Winning a race is an achievement, which makes people proud"),
    ("{A}'s pet goldfish died this morning. How does {A} most likely feel?", "sad",
     ["excited", "proud", "amused"], "Losing a pet makes people sad"),
    ("{A} hears a loud crash of thunder in the middle of the night. How does {A} most likely "
     "feel?", "frightened", ["bored", "proud", "hungry"],
     "A sudden loud noise in the dark is frightening"),
    ("{A} has been waiting in a slow line for two hours with nothing to do. How does {A} most "
     "likely feel?", "bored", ["thrilled", "proud", "grateful"],
     "Waiting a long time with nothing to do is boring"),
    ("{A} forgot the lines in the school play while everyone was watching. How does {A} most "
     "likely feel?", "embarrassed", ["proud", "relaxed", "sleepy"],
     "Making a mistake in front of an audience is embarrassing"),
    ("{A} has not eaten anything since breakfast, and it is now evening. How does {A} most "
     "likely feel?", "hungry", ["full", "proud", "frightened"],
     "Going all day without food makes a person hungry"),
    ("{A} stayed up all night studying for a test. How does {A} most likely feel the next "
     "day?", "tired", ["energetic", "bored", "proud"],
     "Missing a night of sleep makes people tired"),
    ("{A}'s best friend is moving to another country next week. How does {A} most likely "
     "feel?", "sad", ["angry", "proud", "amused"],
     "People feel sad when a close friend moves far away"),
    ("{A} finds the wallet {p} lost last week. How does {A} most likely feel?", "relieved",
     ["angry", "jealous", "frightened"],
     "Getting back something that was lost brings relief"),
    ("Tomorrow {A} is going on a trip {p} has been looking forward to for months. How does "
     "{A} most likely feel tonight?", "excited", ["bored", "sad", "guilty"],
     "Looking forward to something fun makes people excited"),
    ("Someone pushes in front of {A} in a long line. How does {A} most likely feel?",
     "annoyed", ["grateful", "proud", "sleepy"],
     "Having someone cut in line feels unfair and annoying"),
    ("{A} accidentally broke a friend's favorite mug. How does {A} most likely feel?", "sorry",
     ["proud", "bored", "excited"],
     "Breaking something that belongs to someone else makes people feel sorry"),
    ("A neighbor helps {A} carry heavy groceries up the stairs. How does {A} most likely feel "
     "toward the neighbor?", "grateful", ["angry", "jealous", "bored"],
     "People feel grateful when someone helps them"),
    ("{A} is about to give a speech to the whole school for the first time. How does {A} most "
     "likely feel?", "nervous", ["bored", "sleepy", "hungry"],
     "Speaking in front of a big crowd for the first time makes people nervous"),
    ("{A} just finished a long, hard hike on a hot day. What does {A} most likely want?",
     "a drink of water", ["a heavy coat", "a cup of sand", "a spoonful of salt"],
     "Hiking in the heat causes sweating, which makes people thirsty"),
    ("{A} is shivering in a cold room. What should {A} do?", "put on a sweater",
     ["open the window", "take off {pos} socks", "eat ice cream"],
     "A sweater keeps the body warm"),
    ("{A} cut {pos} finger slightly while cooking. What should {A} do?",
     "clean the cut and put a bandage on it", ["ignore it and keep chopping",
                                               "put salt on it", "put it in the oven"],
     "Cleaning and covering a small cut helps keep germs out"),
    ("The soil in {A}'s flower pot is dry and the leaves are drooping. What should {A} do?",
     "water the plant", ["put it in the freezer", "paint the leaves", "cut off the roots"],
     "Dry soil and drooping leaves mean the plant needs water"),
    ("{A} just bought ice cream and will not eat it until tomorrow. What should {A} do?",
     "put it in the freezer", ["leave it on the counter", "put it in the oven",
                               "keep it in {pos} backpack"],
     "A freezer keeps ice cream frozen"),
    ("{A} wants to read but the room is too dark. What should {A} do?", "turn on a lamp",
     ["close the curtains", "put on sunglasses", "turn off the lights"],
     "A lamp gives light to read by"),
]

COMPARISONS = {
    "heaviest": ("lightest", [("a feather", 0.005), ("an apple", 0.2), ("a watermelon", 5),
                              ("an adult person", 70), ("a piano", 300), ("a car", 1500),
                              ("an elephant", 5000), ("a blue whale", 100000)]),
    "largest": ("smallest", [("a grain of sand", 1e-3), ("an ant", 5e-3), ("a mouse", 0.08),
                             ("a cat", 0.5), ("a horse", 2.4), ("a blue whale", 25),
                             ("a mountain", 3000), ("the Earth", 1.3e7), ("the Sun", 1.4e9)]),
    "fastest": ("slowest", [("a snail", 0.05), ("a tortoise", 0.3),
                            ("a person walking", 5), ("a person riding a bicycle", 20),
                            ("a car on a highway", 100), ("a passenger jet in flight", 900)]),
}
COMPARISON_WHY = {
    "heaviest": "weighs the most", "lightest": "weighs the least",
    "largest": "is the biggest", "smallest": "is the smallest",
    "fastest": "moves the fastest", "slowest": "moves the slowest",
}


def _clashes(table, key: str) -> list[str]:
    """Entries of table that overlap with key, in either direction (last column lists them)."""
    own = next(row[-1] for row in table if row[0] == key)
    return [row[0] for row in table if row[0] != key and (row[0] in own or key in row[-1])]


def commonsense_items(rng: random.Random) -> list[MC]:
    items: list[MC] = []
    add = items.append

    for name, np_, plural, tag, purpose, use in TOOLS:
        others = [t for t in TOOLS if t[3] != tag]
        names = [t[0] for t in others]
        ex = f"{_cap(np_)} {'are' if plural else 'is'} used for {use}"
        add(MC(f"What would you use to {purpose}?", name, _pick(rng, names, 3, [name]), ex))
        uses = [t[5] for t in others]
        add(MC(f"What {'are' if plural else 'is'} {np_} mainly used for?", use,
               _pick(rng, uses, 3, [use]), ex))

    for q, ans, wrong, ex in FOUND_AT:
        add(MC(q, ans, _pick(rng, wrong, 3, [ans]), ex))

    places = [g[0] for g in GO_TO]
    for place, to_do, people_do, also in GO_TO:
        also = _clashes(GO_TO, place)
        add(MC(f"Where would you go to {to_do}?", place,
               _pick(rng, places, 3, [place, *also]),
               f"People go to {place} to {people_do}"))
        activities = [g[2] for g in GO_TO if g[0] not in also]
        add(MC(f"What do people mainly go to {place} to do?", people_do,
               _pick(rng, activities, 3, [people_do]),
               f"People go to {place} to {people_do}"))

    jobs = [j[0] for j in JOBS]
    for job, who, does, also in JOBS:
        also = _clashes(JOBS, job)
        ex = f"{_cap(_an(job))} {does}"
        add(MC(who, job, _pick(rng, jobs, 3, [job, *also]), ex))
        duties = [j[2] for j in JOBS if j[0] not in also]
        add(MC(f"What does {_an(job)} do?", does, _pick(rng, duties, 3, [does]), ex))

    animals = [s[0] for s in SOUNDS]
    sounds = [s[1] for s in SOUNDS]
    for animal, sound, verb, also in SOUNDS:
        clash = [s[1] for s in SOUNDS if animal in s[3]]  # others' sounds this animal makes
        add(MC(f"Which sound does {_an(animal)} make?", sound,
               _pick(rng, sounds, 3, [sound, *clash]),
               f"{_cap(_an(animal))} {verb.split()[0]}; that sound is written \"{sound}\""))
        add(MC(f"Which animal {verb}?", animal, _pick(rng, animals, 3, [animal, *also]),
               f"{_cap(_an(animal))} {verb}"))

    for q, ans, ds, ex in ANIMAL_FACTS + FOOD_FROM + EVERYDAY:
        add(MC(q, ans, ds, ex))

    babies = [b for _, b in BABY_ANIMALS]
    for animal, baby in BABY_ANIMALS:
        add(MC(f"What is a baby {animal} called?", baby, _pick(rng, babies, 3, [baby]),
               f"A young {animal} is called {_an(baby)}"))

    people = rng.sample(NAMES, len(FEELINGS))
    for (q, ans, ds, ex), (name, p, pos) in zip(FEELINGS, people, strict=True):
        def fill(s, name=name, p=p, pos=pos):
            return s.replace("{A}", name).replace("{p}", p).replace("{pos}", pos)
        add(MC(fill(q), fill(ans), [fill(d) for d in ds], fill(ex)))

    for most, (least, table) in COMPARISONS.items():
        for superlative in (most, least):
            seen, made = set(), 0
            while made < 7:
                chosen = sorted(rng.sample(range(len(table)), 4))
                if tuple(chosen) in seen:
                    continue
                seen.add(tuple(chosen))
                four = [table[i] for i in chosen]
                # no two neighbours in size closer than a factor of 3: clear-cut answers only
                if any(b[1] / a[1] < 3 for a, b in zip(four, four[1:], strict=False)):
                    continue
                target = four[-1] if superlative == most else four[0]
                shown = [n for n, _ in four]
                rng.shuffle(shown)
                q = (f"Which of these {COMPARISON_WHY[superlative]}: {', '.join(shown[:3])} "
                     f"or {shown[3]}?")
                add(MC(q, target[0], [n for n, _ in four if n != target[0]],
                       f"Of the four, {target[0]} {COMPARISON_WHY[superlative]}"))
                made += 1
    return items


# --------------------------------------------------------------------------------------
# assembling the sets
# --------------------------------------------------------------------------------------

def _split(name: str, items: list, rng: random.Random, question) -> dict[str, list]:
    """Shuffle the items and cut train and test; no question text may repeat."""
    keys = [" ".join(question(it).lower().split()) for it in items]
    if len(set(keys)) != len(keys):
        dup = sorted(k for k in set(keys) if keys.count(k) > 1)
        raise ValueError(f"{name}: duplicate questions: {dup[:3]}")
    if len(items) < N_TRAIN + N_TEST:
        raise ValueError(f"{name}: only {len(items)} items, need {N_TRAIN + N_TEST}")
    items = list(items)
    rng.shuffle(items)
    return {"train": items[:N_TRAIN], "test": items[N_TRAIN:N_TRAIN + N_TEST]}


def _with_ids(name: str, splits: dict[str, list[dict]]) -> dict[str, list[dict]]:
    out = {}
    for split, rows in splits.items():
        out[split] = [{"id": f"{ID_PREFIX[name]}-{split}-{i:04d}", **row}
                      for i, row in enumerate(rows, 1)]
        for row in out[split]:
            if list(row) != SCHEMAS[name]:
                raise ValueError(f"{name}: row keys {list(row)} != {SCHEMAS[name]}")
    return out


def build_all(seed: int = SEED) -> dict[str, dict[str, list[dict]]]:
    """{name: {"train": rows, "test": rows}} for every shipped set, from the seed."""
    sets = {}
    rng = random.Random(seed)
    rows = arithmetic_pool(rng, N_TRAIN + N_TEST)
    sets["arithmetic"] = _with_ids("arithmetic",
                                   _split("arithmetic", rows, rng, lambda r: r["question"]))
    for offset, (name, make) in enumerate((("science-mc", science_items),
                                           ("commonsense-mc", commonsense_items)), 1):
        rng = random.Random(seed + offset)
        splits = _split(name, make(rng), rng, lambda it: it.question)
        # options are laid out per split, so each split has every answer letter equally often
        sets[name] = _with_ids(name, {s: _mc_rows(rng, items) for s, items in splits.items()})
    return sets


def render(seed: int = SEED) -> dict[str, bytes]:
    """Every generated file as {relative path: bytes}."""
    files: dict[str, bytes] = {}
    index = {}
    for name, splits in build_all(seed).items():
        index[name] = {
            "description": DESCRIPTIONS[name],
            "columns": SCHEMAS[name],
            "splits": {split: len(rows) for split, rows in splits.items()},
        }
        for split, rows in splits.items():
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            files[f"{name}/{split}.jsonl"] = text.encode("utf-8")
    files["index.json"] = (json.dumps(index, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return files


def write_all(out_dir: Path | str = HERE, seed: int = SEED) -> list[Path]:
    out_dir = Path(out_dir)
    written = []
    for rel, data in render(seed).items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: here)")
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--check", action="store_true",
                    help="compare with the files in --out instead of writing; exit 1 if stale")
    args = ap.parse_args(argv)
    if args.check:
        stale = [rel for rel, data in render(args.seed).items()
                 if not (args.out / rel).is_file() or (args.out / rel).read_bytes() != data]
        for rel in stale:
            print(f"stale: {args.out / rel}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_all(args.out, args.seed):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
