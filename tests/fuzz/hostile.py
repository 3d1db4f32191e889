"""Hostile values: a catalogue of the inputs issue 8 found breaking things, and Hypothesis
strategies that generate more of each kind.

A value is either a plain Python value (sent as JSON; ``json.dumps`` with ``ensure_ascii``
writes a lone surrogate as the escape ``\\ud800``, which is how a client sends one), a ``Raw``
JSON fragment put into the body verbatim (nesting a thousand levels deep, ``NaN``, ``1e999``),
or a ``Ref`` to a real row resolved when the request is built (another workspace's id, an id
that does not exist). Query strings, paths and multipart bodies take the same values through
``query_values`` / ``path_segment`` / ``text_bytes``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import quote_from_bytes

from hypothesis import strategies as st


@dataclass(frozen=True)
class Raw:
    """A JSON fragment written into the document as is."""

    text: str
    label: str = ""

    def __repr__(self):
        return f"Raw({self.label or self.text[:40]!r})"


@dataclass(frozen=True)
class Ref:
    """A real id, resolved per request: ``other`` = the same kind of row in another workspace,
    ``missing`` = an id no row has, ``own`` = the caller's own row. ``form`` spells it the way
    ``int()`` reads but the SPEC refuses (``arabic`` ١٢, ``fullwidth`` １２, ``plus`` +12,
    ``space`` " 12"): tied to a real row, so reading it as an id is seen whatever ids the
    database handed out."""

    whose: str
    form: str = ""

    def __repr__(self):
        return f"Ref({self.whose}{', ' + self.form if self.form else ''})"


_DIGITS = {"arabic": 0x0660, "fullwidth": 0xFF10}


def spell(number: int, form: str):
    """``number`` in ``form`` (see Ref); the number itself when there is no form."""
    if not form:
        return number
    if form in _DIGITS:
        return "".join(chr(_DIGITS[form] + int(d)) for d in str(number))
    return {"plus": f"+{number}", "space": f" {number}"}[form]


def nested(depth: int, kind: str = "[") -> Raw:
    if kind == "[":
        return Raw("[" * depth + "]" * depth, f"[ x {depth}")
    return Raw('{"a":' * depth + "1" + "}" * depth, f"{{ x {depth}")


def lists_nested(depth: int):
    """``depth`` real levels of Python lists (json.dumps writes them; not a Raw fragment)."""
    value = 1
    for _ in range(depth):
        value = [value]
    return value


BIGINT_MAX = 2**63 - 1
BIG = BIGINT_MAX + 1  # one past PostgreSQL bigint

# --- the catalogue: each kind the issue names, a few values each -----------------------------------
CATALOGUE: dict[str, list] = {
    "wrong_type": [None, True, [1], {"id": 1}, 1.5, ""],
    "huge_string": ["x" * 100_000, "9" * 5_000],
    "deep_nesting": [nested(1000), nested(33, "{"), lists_nested(33)],
    "lone_surrogate": ["\ud800", "a\udfffb"],
    "nul": ["\x00", "a\x00b"],
    "unicode_digits": ["²", "1_0", Ref("own", "arabic"), Ref("own", "fullwidth"), Ref("own", "plus"),
                       Ref("own", "space")],
    "out_of_range_number": [-1, 0, BIG, str(BIG), Raw("1e999", "1e999")],
    "out_of_range_date": ["9999-12-31", "9999-12-31T23:59:59-23:59", "0000-01-01", "2024-13-45",
                          "0001-01-01T00:00:00+23:59"],
    "foreign_id": [Ref("other"), Ref("missing")],
    "url": ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>"],
}
CANONICAL: list = [value for values in CATALOGUE.values() for value in values]


def kind_of(value) -> str | None:
    for kind, values in CATALOGUE.items():
        if any(value is item or (type(value) is type(item) and value == item) for item in values):
            return kind
    return None


def is_invalid_json(value, depth: int = 1) -> bool:
    """Whether a JSON document holding ``value`` at nesting ``depth`` (1: inside the top-level
    object) must be refused as invalid JSON: deeper than 32 levels, or a lone surrogate or a
    NUL anywhere in it."""
    if isinstance(value, Raw):
        levels = value.text.count("[") + value.text.count("{") if value.text[:1] in "[{" else 0
        return depth + levels > 32
    return depth + _depth(value) > 32 or _has_bad_char(value)


def _depth(value) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


def has_bad_char(value) -> bool:
    """A lone surrogate or a NUL anywhere in a decoded JSON value."""
    return _has_bad_char(value)


def _has_bad_char(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(_has_bad_char(v) for v in value)
    if isinstance(value, dict):
        return any(_has_bad_char(k) or _has_bad_char(v) for k, v in value.items())
    return False


def bad_id(value) -> bool:
    """A value that ``int()`` (or ``Decimal``) would read as an id but the SPEC refuses: other
    scripts' digits, a sign, spaces, ``_``, an exponent; or a number past bigint."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value < 0 or value > BIGINT_MAX
    if not isinstance(value, str):
        return False
    if re.fullmatch(r"[0-9]+", value):
        return len(value) > 19 or int(value) > BIGINT_MAX
    if len(value) > 100:
        return False  # not read as a number by anything (nor worth int()'s digit limit)
    try:
        int(value)
        return True
    except ValueError:
        pass
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return False
    return number.is_finite() and number == number.to_integral_value()


def short(value, limit: int = 60) -> str:
    """A value as a one-line repro (huge strings abbreviated)."""
    if isinstance(value, str) and len(value) > limit:
        return f"{value[:8]!r}*{len(value)}"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


# --- Hypothesis strategies: more of each kind -------------------------------------------------------
_surrogates = st.characters(categories=["Cs"])
_non_ascii_digits = st.characters(categories=["Nd", "No"]).filter(lambda c: not ("0" <= c <= "9"))


def _with(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Text with ``inner`` somewhere in it."""
    return st.tuples(st.text(max_size=5), inner, st.text(max_size=5)).map("".join)


def _date_text() -> st.SearchStrategy[str]:
    year = st.one_of(st.integers(0, 0), st.integers(9999, 99999), st.integers(-5, 20000))
    parts = st.tuples(year, st.integers(0, 99), st.integers(0, 99), st.integers(0, 99), st.integers(-99, 99),
                      st.booleans())
    return parts.map(lambda p: (f"{p[0]:04d}-{p[1]:02d}-{p[2]:02d}"
                                + (f"T{p[3]:02d}:00:00{p[4]:+03d}:59" if p[5] else "")))


_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                          st.text(max_size=20))
json_values = st.recursive(_json_scalars, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3), max_leaves=8)

GENERATED: dict[str, st.SearchStrategy] = {
    "wrong_type": json_values,
    "huge_string": st.integers(4_097, 120_000).map(lambda n: "x" * n),
    "deep_nesting": st.tuples(st.integers(33, 1500), st.sampled_from("[{")).map(lambda t: nested(*t)),
    "lone_surrogate": _with(_surrogates),
    "nul": _with(st.just("\x00")),
    "unicode_digits": st.one_of(st.text(_non_ascii_digits, min_size=1, max_size=4),
                                st.tuples(st.sampled_from(["+", "-", " ", "\t", "0", "_"]), st.integers(0, 99))
                                .map(lambda t: f"{t[0]}{t[1]}")),
    "out_of_range_number": st.one_of(st.integers(max_value=0), st.integers(min_value=2**31 - 2),
                                     st.integers(min_value=2**63 - 2).map(str)),
    "out_of_range_date": _date_text(),
    "foreign_id": st.sampled_from([Ref("other"), Ref("missing")]),
    "url": st.tuples(st.sampled_from(["javascript", "JAVASCRIPT", "vbscript", "data", "file", " javascript"]),
                     st.text(max_size=10)).map(lambda t: f"{t[0]}:{t[1]}"),
}


class Hostile:
    """A value as Hypothesis passes it to a test: its repr (what a failure report prints) is
    short even for a 100k-character string."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __repr__(self):
        return f"Hostile({short(self.value)})"


def hostile(kinds=None) -> st.SearchStrategy[Hostile]:
    """Any hostile value, of the given kinds (default all): a catalogue entry or a generated one."""
    kinds = list(kinds or CATALOGUE)
    values = st.one_of(st.sampled_from([v for k in kinds for v in CATALOGUE[k]]), *(GENERATED[k] for k in kinds))
    return values.map(Hostile)


def canonical(kinds=None) -> list[Hostile]:
    """The catalogue, for ``@example``: every entry runs on every slot, every run."""
    return [Hostile(v) for k in (kinds or CATALOGUE) for v in CATALOGUE[k]]


# --- encodings ----------------------------------------------------------------------------------------
def dumps(document) -> bytes:
    """JSON with ``Raw`` fragments inserted verbatim; lone surrogates as ``\\ud800`` escapes."""
    raws: list[str] = []

    def swap(value):
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"__fuzz_raw_{len(raws) - 1}__"
        if isinstance(value, list):
            return [swap(v) for v in value]
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        return value

    text = json.dumps(swap(document), ensure_ascii=True)
    for i, raw in enumerate(raws):
        text = text.replace(f'"__fuzz_raw_{i}__"', raw, 1)
    return text.encode("ascii")


def text_bytes(value) -> bytes:
    """The bytes a client would put on the wire for ``value`` outside JSON (query, path,
    form field): strings as UTF-8 with lone surrogates as their (invalid) UTF-8 bytes."""
    if isinstance(value, Raw):
        return value.text.encode()
    if isinstance(value, bytes):
        return value
    if value is None:
        return b""
    if isinstance(value, bool):
        return b"true" if value else b"false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=True).encode()
    return str(value).encode("utf-8", "surrogatepass")


def query_values(value) -> list[bytes]:
    """A hostile value as the list of raw values of one query parameter (a list repeats it)."""
    if isinstance(value, list) and value and all(not isinstance(v, (list, dict)) for v in value):
        return [text_bytes(v) for v in value]
    return [text_bytes(value)]


def query_string(params: list[tuple[str, bytes]]) -> str:
    return "&".join(f"{quote_from_bytes(name.encode(), safe='')}={quote_from_bytes(raw, safe='')}"
                    for name, raw in params)


def path_segment(value) -> str:
    return quote_from_bytes(text_bytes(value), safe="")
