"""Keyset pagination: a list read from just after the last row of the previous page.

A list whose order is a total order of plain columns (each ascending or descending, a nullable
one with its NULL placement said, the primary key last: the customer and conversation lists,
see StrictOrderingFilter) can be paged by ``cursor`` as well as by ``offset``. A cursor is an
opaque token (signed with the project's key, so it cannot be forged or edited) holding:

- ``order``: the order it was made for (``-last_activity_at nulls last,-created_at,-id``); a
  cursor of another order is an ``invalid_filter`` error, never a page of the wrong rows;
- ``after``: the sort values of the last row of the page before (JSON: datetimes as
  ``fiko.timefmt.iso`` writes them, text, integers, null);
- ``offset``: how many rows came before the next page (for ``pagination.offset``/``page``).

The page after a cursor is a WHERE on the sort key, so the database starts reading at the
cursor's row in the order's index instead of walking (OFFSET) every row before it. The values
are checked with the project's parsers (fiko.inputs) against the type and range of their column.
The cursor only adds a condition: the list's own conditions (its workspaces, its filters) stay,
so a cursor can only narrow the user's own filtered list.

How "after the row" is written (``_ranges``): for an order in one direction, one row-value
comparison (``(a, b, id) < (%s, %s, %s)``), which PostgreSQL reads as a range of the order's
index. A nullable leading column (``last_activity_at DESC NULLS LAST``) makes two ranges: the
non-NULL rows after the cursor, then every NULL row (or, when the cursor's row is NULL, only the
NULL rows after it). On PostgreSQL the two ranges are read as the union of their ids, each at
most a page long, so both start at their place in the index; on SQLite (no concern for speed)
they are one OR. Any other order (several ``order_by`` fields in mixed directions) is the
general lexicographic condition: correct, but not an index range.
"""
import re
from dataclasses import dataclass
from functools import reduce
from operator import or_

from django.core import signing
from django.db import connections
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models import BooleanField, Expression, F, Q, Value
from django.db.models.expressions import OrderBy

from fiko.errors import ErrorCode, InvalidInput
from fiko.inputs import INT_MAX, check_text, parse_int, parse_moment
from fiko.timefmt import iso

CURSOR_FIELD = "cursor"
MAX_CURSOR_CHARS = 4096  # a cursor of 150 Persian letters (JSON escapes them) fits
_SALT = "fiko.keyset.cursor"
_TOKEN = re.compile(r"[A-Za-z0-9_\-:.]+")  # what signing.dumps writes: base64url, ':' and '.'
_TEXT_TYPES = {"CharField", "TextField", "SlugField", "EmailField"}
_TIME_TYPES = {"DateTimeField"}
_INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges  # the columns' ranges (PostgreSQL's)


def _invalid(reason: str) -> InvalidInput:
    return InvalidInput(f"Invalid filter '{CURSOR_FIELD}': {reason}", ErrorCode.INVALID_FILTER, field=CURSOR_FIELD)


@dataclass(frozen=True)
class SortKey:
    """One term of a list's order: a column of the list's model, its direction, and for a
    nullable column where its NULLs go."""

    field: object  # the model field
    descending: bool
    nulls_last: bool = False

    @property
    def label(self) -> str:
        placement = (" nulls last" if self.nulls_last else " nulls first") if self.field.null else ""
        return f"{'-' if self.descending else ''}{self.field.name}{placement}"


@dataclass(frozen=True)
class Cursor:
    """A decoded cursor: its order's label, the raw sort values, the offset of the next page."""

    order: str
    after: tuple
    offset: int


def order_keys(queryset) -> tuple[SortKey, ...] | None:
    """The sort keys of ``queryset``'s order when it can be paged by cursor (see the module
    docstring), else None."""
    query = queryset.query
    terms = query.order_by or (queryset.model._meta.ordering if query.default_ordering else ())
    keys = []
    for term in terms:
        key = _sort_key(queryset.model, term)
        if key is None:
            return None
        keys.append(key)
    if not keys or not keys[-1].field.primary_key:
        return None
    return tuple(keys)


def _sort_key(model, term) -> SortKey | None:
    if isinstance(term, str):
        if term == "?":
            return None
        name, descending, nulls_last, placed = term.lstrip("-"), term.startswith("-"), False, False
    elif isinstance(term, OrderBy) and isinstance(term.expression, F):
        name, descending = term.expression.name, term.descending
        nulls_last, placed = bool(term.nulls_last), bool(term.nulls_last or term.nulls_first)
    else:
        return None
    try:
        field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    except Exception:  # noqa: BLE001 -- a lookup through a relation, an annotation: not a column
        return None
    internal = field.get_internal_type() if getattr(field, "concrete", False) and not field.is_relation else None
    if internal not in _TEXT_TYPES | _TIME_TYPES and internal not in _INTEGER_RANGES:
        return None
    if field.null and not placed:  # NULL placement differs between databases: not a defined order
        return None
    return SortKey(field, descending, nulls_last if field.null else False)


def order_label(keys) -> str:
    return ",".join(key.label for key in keys)


# --- the token ------------------------------------------------------------------------------
def cursor_for(keys, row, offset: int) -> str:
    """The cursor of the rows after ``row`` (a model instance or a dict of its columns) in the
    order of ``keys``; ``offset``: the rows up to and including ``row``."""
    after = []
    for key in keys:
        value = row[key.field.attname] if isinstance(row, dict) else getattr(row, key.field.attname)
        after.append(iso(value) if key.field.get_internal_type() in _TIME_TYPES else value)
    return encode_cursor({"order": order_label(keys), "after": after, "offset": offset})


def encode_cursor(payload: dict) -> str:
    """The token of a cursor payload (``{order, after, offset}``), signed."""
    return signing.dumps(payload, salt=_SALT, compress=False)


def parse_cursor(raw) -> Cursor:
    """The cursor a request passed: a token this server signed, of the right shape. Raises
    ``invalid_filter`` (field ``cursor``) for anything else."""
    if not isinstance(raw, str):
        raise _invalid("must be the next_cursor of a list page (a string)")
    if len(raw) > MAX_CURSOR_CHARS or not _TOKEN.fullmatch(raw):
        raise _invalid("not a cursor of this server (use next_cursor as it was given)")
    try:
        payload = signing.loads(raw, salt=_SALT)
    except (signing.BadSignature, ValueError, UnicodeError):
        raise _invalid("not a cursor of this server, or an edited one (use next_cursor as it was given)") from None
    if not isinstance(payload, dict) or set(payload) != {"order", "after", "offset"}:
        raise _invalid("not a cursor of a list page")
    order, after, offset = payload["order"], payload["after"], payload["offset"]
    if not isinstance(order, str) or not isinstance(after, list):
        raise _invalid("not a cursor of a list page")
    try:
        offset = parse_int(offset, CURSOR_FIELD, minimum=0, maximum=INT_MAX, code=ErrorCode.INVALID_FILTER)
    except InvalidInput:
        raise _invalid(f"its offset must be an integer from 0 to {INT_MAX}") from None
    return Cursor(order=order, after=tuple(after), offset=offset)


def cursor_values(keys, cursor: Cursor) -> tuple:
    """The sort values of ``cursor`` as the columns of ``keys`` hold them; raises
    ``invalid_filter`` when the cursor was made for another order or a value does not fit."""
    if cursor.order != order_label(keys):
        raise _invalid(f"made for the order '{cursor.order[:120]}', not for this list's order "
                       f"'{order_label(keys)}' (a new order starts from the first page)")
    if len(cursor.after) != len(keys):
        raise _invalid("not a cursor of this list's order")
    return tuple(_value(key, raw) for key, raw in zip(keys, cursor.after))


def _value(key: SortKey, raw):
    field, name = key.field, key.field.name
    if raw is None:
        if field.null:
            return None
        raise _invalid(f"its value of '{name}' must not be null")
    internal = field.get_internal_type()
    if internal in _TIME_TYPES:
        moment = parse_moment(raw) if isinstance(raw, str) else None
        if moment is None:
            raise _invalid(f"its value of '{name}' must be an ISO 8601 datetime")
        return moment[0]
    if internal in _TEXT_TYPES:
        if not isinstance(raw, str):
            raise _invalid(f"its value of '{name}' must be text")
        if field.max_length is not None and len(raw) > field.max_length:
            raise _invalid(f"its value of '{name}' is longer than the column")
        try:
            return check_text(raw, CURSOR_FIELD, ErrorCode.INVALID_FILTER)
        except InvalidInput:
            raise _invalid(f"its value of '{name}' must be text without NUL characters") from None
    low, high = _INTEGER_RANGES[internal]
    if internal.endswith("AutoField"):  # ids are positive (fiko.inputs.parse_id)
        low = 1
    try:
        return parse_int(raw, name, minimum=low, maximum=high, code=ErrorCode.INVALID_FILTER)
    except InvalidInput:
        raise _invalid(f"its value of '{name}' must be an integer from {low} to {high}") from None


# --- the rows after a cursor ------------------------------------------------------------------
class RowComparison(Expression):
    """``(col1, col2, ...) < (%s, %s, ...)`` (or ``>``): one range of an index on those columns."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, names, values, fields, *, descending: bool):
        super().__init__()
        self.columns = [F(name) for name in names]
        self.values = [Value(value, output_field=field) for value, field in zip(values, fields)]
        self.descending = descending

    def get_source_expressions(self):
        return [*self.columns, *self.values]

    def set_source_expressions(self, exprs):
        self.columns, self.values = list(exprs[: len(self.columns)]), list(exprs[len(self.columns):])

    def as_sql(self, compiler, connection):
        sides, params = [], []
        for side in (self.columns, self.values):
            parts = []
            for expression in side:
                sql, part_params = compiler.compile(expression)
                parts.append(sql)
                params.extend(part_params)
            sides.append(", ".join(parts))
        return f"({sides[0]}) {'<' if self.descending else '>'} ({sides[1]})", params


def _row_after(keys, values) -> Q:
    return Q(RowComparison([k.field.attname for k in keys], values, [k.field for k in keys],
                           descending=keys[0].descending))


def _ranges(keys, values) -> list[Q]:
    """The rows after the cursor's row, as conditions each of which is one range of the order's
    index, in the list's order (every row of one comes before every row of the next)."""
    first, rest = keys[0], keys[1:]
    uniform = len({key.descending for key in keys}) == 1 and not any(key.field.null for key in rest)
    if not uniform:
        return [_lexicographic(keys, values)]
    if not first.field.null:
        return [_row_after(keys, values)]
    is_null = Q(**{f"{first.field.attname}__isnull": True})
    if values[0] is None:  # the cursor is among the NULL rows: the NULL rows after it ...
        ranges = [is_null & _row_after(rest, values[1:])]
        if not first.nulls_last:  # ... then, NULLs first, every non-NULL row
            ranges.append(~is_null)
        return ranges
    ranges = [_row_after(keys, values)]  # (a row comparison is never true of a NULL)
    if first.nulls_last:
        ranges.append(is_null)
    return ranges


def _lexicographic(keys, values) -> Q:
    """Any order: strictly after in the first key, or equal there and after in the rest."""
    key, value = keys[0], values[0]
    name = key.field.attname
    if value is None:
        after = None if key.nulls_last else Q(**{f"{name}__isnull": False})
        same = Q(**{f"{name}__isnull": True})
    else:
        after = Q(**{f"{name}__{'lt' if key.descending else 'gt'}": value})
        if key.field.null and key.nulls_last:
            after |= Q(**{f"{name}__isnull": True})
        same = Q(**{name: value})
    if len(keys) == 1:
        return after if after is not None else Q(pk__in=[])
    then = same & _lexicographic(keys[1:], values[1:])
    return then if after is None else after | then


def rows_after(queryset, keys, values, count: int) -> list:
    """The first ``count`` rows of ``queryset`` after the row whose sort values are ``values``,
    in one query (see the module docstring)."""
    ranges = _ranges(keys, values)
    if len(ranges) == 1:
        return list(queryset.filter(ranges[0])[:count])
    if connections[queryset.db].vendor == "postgresql":
        ids = [queryset.filter(condition).values("pk")[:count] for condition in ranges]
        return list(queryset.filter(pk__in=ids[0].union(*ids[1:], all=True))[:count])
    return list(queryset.filter(reduce(or_, ranges))[:count])
