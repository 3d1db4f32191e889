"""Run a FilterSet on a plain dict (socket frames) or a QueryDict (REST), with strict errors.

A bad value or an unknown filter is an ``invalid_filter`` error naming the field and what is
allowed; nothing is silently ignored. Booleans may be JSON booleans or "true"/"false"/"all";
lists may be JSON arrays, repeated query parameters or comma-separated strings.
"""
import django_filters
from django import forms
from django_filters.constants import EMPTY_VALUES
from django.db import connection
from django.db.models import F, Q
from django.db.models.expressions import RawSQL
from django.utils.datastructures import MultiValueDict

from fiko.errors import ErrorCode, InvalidInput
from fiko.inputs import describe, id_or_none, parse_moment
from fiko.pagination import PAGINATION_KEYS

TRI_STATE = ("true", "false", "all")


def _as_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def to_multivalue(data) -> MultiValueDict:
    if hasattr(data, "getlist"):
        return data
    mv = MultiValueDict()
    for key, value in (data or {}).items():
        if isinstance(value, (list, tuple)):
            mv.setlist(key, [_as_text(v) for v in value])
        elif isinstance(value, dict):
            raise InvalidInput(f"Invalid filter '{describe(key)}': must be a string, number, boolean or list",
                               ErrorCode.INVALID_FILTER, field=describe(key))
        else:
            mv[key] = _as_text(value)
    return mv


def apply_filterset(filterset_class, data, queryset, *, request=None, extra_allowed=PAGINATION_KEYS):
    if data is not None and not isinstance(data, dict) and not hasattr(data, "getlist"):
        raise InvalidInput("Invalid filters: must be an object", ErrorCode.INVALID_FILTER, field="filters")
    params = to_multivalue(data)
    allowed = set(filterset_class.base_filters) | set(extra_allowed) | {"format"}
    unknown = sorted(k for k in params.keys() if k not in allowed)
    if unknown:
        raise InvalidInput(
            f"Unknown filter '{describe(unknown[0])}'. Allowed filters: {', '.join(sorted(filterset_class.base_filters))}",
            ErrorCode.INVALID_FILTER, field=describe(unknown[0]),
        )
    fs = filterset_class(data=params, queryset=queryset, request=request)
    if not fs.is_valid():
        field, messages = next(iter(fs.errors.items()))
        flt = filterset_class.base_filters.get(field)
        allowed_values = getattr(flt, "allowed_description", None)
        text = f"Invalid filter '{field}': {' '.join(messages)}"
        if allowed_values:
            text += f" Allowed values: {allowed_values}"
        raise InvalidInput(text, ErrorCode.INVALID_FILTER, field=field)
    return fs.qs


class UserRequest:
    """What a FilterSet needs of a request (its user: ``assignee=me``, the user's tags) when
    called from a socket."""

    def __init__(self, user):
        self.user = user


def request_user(filterset):
    """The user a FilterSet runs for (REST request or UserRequest), or None."""
    return getattr(filterset.request, "user", None)


def id_in(ids, field: str = "pk") -> Q:
    """``field IN ids`` for a large id set: one array parameter on PostgreSQL, a plain IN list
    elsewhere."""
    ids = sorted(ids)
    if not ids:
        return Q(**{f"{field}__in": []})
    if connection.vendor == "postgresql":
        return Q(**{f"{field}__in": RawSQL("SELECT unnest(%s::bigint[])", (ids,))})
    return Q(**{f"{field}__in": ids})


class ListField(forms.Field):
    """Accepts repeated values and comma-separated strings (items trimmed)."""

    strip_items = True

    def to_python(self, value):
        if value in (None, "", []):
            return []
        values = value if isinstance(value, (list, tuple)) else [value]
        out = []
        for item in values:
            parts = str(item).split(",")
            out.extend(part.strip() if self.strip_items else part for part in parts if part.strip())
        return out


class ListWidget(forms.SelectMultiple):
    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


class ListFilter(django_filters.Filter):
    field_class = ListField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", ListWidget)
        super().__init__(*args, **kwargs)


class IntListField(ListField):
    strip_items = False  # an id is exactly ASCII digits: " 1" names nothing

    def to_python(self, value):
        ids = [id_or_none(item) for item in super().to_python(value)]
        if None in ids:
            raise forms.ValidationError("must be a list of integer ids.")
        return ids


class IdField(forms.CharField):
    def __init__(self, *args, **kwargs):
        kwargs["strip"] = False  # an id is exactly ASCII digits
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return None
        object_id = id_or_none(value)
        if object_id is None:
            raise forms.ValidationError("must be an integer id.")
        return object_id


class IdFilter(django_filters.Filter):
    """One object id (ASCII digits, within bigint)."""

    field_class = IdField


class IntListFilter(ListFilter):
    field_class = IntListField


class TriStateFilter(django_filters.ChoiceFilter):
    """``true``/``false``/``all`` (or JSON booleans); ``all`` and empty mean no filter."""

    allowed_description = "true, false, all"

    def __init__(self, *args, **kwargs):
        kwargs["choices"] = [(v, v) for v in TRI_STATE]
        kwargs.setdefault("method", self.apply_bool)
        super().__init__(*args, **kwargs)

    def apply_bool(self, queryset, name, value):
        if value in ("", None, "all"):
            return queryset
        return self.apply(queryset, value == "true")

    def apply(self, queryset, flag: bool):  # subclasses / method=... override
        return queryset.filter(**{self.field_name: flag})


class ChoiceOrAllFilter(django_filters.ChoiceFilter):
    """Exactly one of ``choices`` on ``field_name``; ``all`` and empty mean no filter."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.allowed_description = ", ".join(choice for choice, _ in self.extra["choices"])

    def filter(self, qs, value):
        return qs if value in EMPTY_VALUES or value == "all" else qs.filter(**{self.field_name: value})


class MomentField(forms.CharField):
    def __init__(self, *args, end=False, **kwargs):
        self.end = end
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        parsed = parse_moment(value, end=self.end)
        if parsed is None:
            raise forms.ValidationError("must be a date YYYY-MM-DD or an ISO 8601 datetime, in the years 1-9999.")
        return parsed


class MomentFilter(django_filters.Filter):
    """``date_from`` (>= start of day) / ``date_to`` (inclusive of the whole day)."""

    field_class = MomentField

    def __init__(self, *args, end=False, **kwargs):
        self.end = end
        kwargs.setdefault("end", end)
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if not value:
            return qs
        moment, exclusive = value
        if self.end:
            lookup = "lt" if exclusive else "lte"
        else:
            lookup = "gte"
        return qs.filter(**{f"{self.field_name}__{lookup}": moment})


def order_by_values(fields) -> list[str]:
    """Every ``order_by`` value a StrictOrderingFilter of ``fields`` accepts, each ascending then
    descending (for filter options)."""
    return [value for name, _ in fields for value in (name, f"-{name}")]


class StrictOrderingFilter(django_filters.OrderingFilter):
    """``order_by`` from a whitelist; a bad value names the allowed ones.

    Each order has one index (see the models' Meta.indexes): NULLs last only for nullable
    columns (``tiebreaks`` adds the column that orders their ties, as in the default order), and
    the final ``id`` tie-breaker follows the direction of the order, so one index serves both
    directions."""

    def __init__(self, *args, tiebreaks=None, **kwargs):
        self.tiebreaks = dict(tiebreaks or {})
        super().__init__(*args, **kwargs)
        options = [choice for choice, _ in self.field.choices if choice]
        self.allowed_description = ", ".join(options)

    def _ordering(self, model, param) -> tuple[list, bool]:
        value = super().get_ordering_value(param)
        name, descending = value.lstrip("-"), value.startswith("-")
        if not model._meta.get_field(name).null:
            return [F(name).desc() if descending else F(name).asc()], descending
        names = [name] + ([self.tiebreaks[name]] if name in self.tiebreaks else [])
        return [F(n).desc(nulls_last=True) if descending else F(n).asc(nulls_last=True) for n in names], descending

    def filter(self, qs, value):
        if value in ([], (), {}, "", None):
            return qs
        ordering, descending = [], True
        for param in value:
            terms, descending = self._ordering(qs.model, param)
            ordering += terms
        return qs.order_by(*ordering, F("id").desc() if descending else F("id").asc())
