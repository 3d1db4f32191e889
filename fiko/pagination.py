"""Pagination for sockets and REST: ``limit``/``offset`` (seed 000) or ``page``/``page_size``
(seeds 001, 004), at most ``MAX_PAGE_SIZE`` a page.

``fetch_page`` reads one page and its total as SPEC says: the total is exact up to
``COUNT_CAP``, past it the cap with ``count_capped``; ``has_more`` is always exact (the page is
read one row long). No COUNT runs when the page itself tells the total (a page that is not full).
Deep pages read their rows through the ids of the page (the OFFSET walks the sort index only).
"""
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Subquery

from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from fiko.errors import ErrorCode, InvalidInput
from fiko.inputs import INT_MAX, parse_int

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
PAGINATION_KEYS = ("limit", "offset", "page", "page_size")
MAX_OFFSET = INT_MAX  # rows to skip; far past any list, and offset + limit stays a valid bigint
COUNT_CAP = 10_000  # list totals are exact up to here (SPEC: at least 10,000); settings.LIST_COUNT_CAP


@dataclass(frozen=True)
class PageRequest:
    offset: int
    limit: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    def describe(self, page: "Page") -> dict:
        return {
            "limit": self.limit,
            "offset": self.offset,
            "page": self.page,
            "page_size": self.limit,
            "total": page.total,
            "has_more": page.has_more,
            "count_capped": page.count_capped,
        }


@dataclass(frozen=True)
class Page:
    rows: list
    total: int  # exact up to COUNT_CAP, else COUNT_CAP
    has_more: bool  # always exact
    count_capped: bool


def count_cap() -> int:
    return getattr(settings, "LIST_COUNT_CAP", COUNT_CAP)


def capped_count(queryset, cap: int) -> tuple[int, bool]:
    """(min(matches, cap), whether there are more than ``cap``): counts at most cap + 1 rows,
    in whatever order is cheapest, without the annotations."""
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return min(found, cap), found > cap


def fetch_page(queryset, request: PageRequest) -> Page:
    """One page of ``queryset`` (ordered) and its total; see the module docstring."""
    start, stop = request.offset, request.offset + request.limit + 1
    if request.offset:
        # Deep pages: skip rows in a narrow id query, then load only this page's rows.
        ids = queryset.values("pk")[start:stop]
        rows = list(queryset.filter(pk__in=Subquery(ids)))
    else:
        rows = list(queryset[start:stop])
    has_more = len(rows) > request.limit
    rows = rows[: request.limit]
    cap = count_cap()
    if not has_more and (rows or not request.offset):  # the page tells the total
        total = request.offset + len(rows)
        return Page(rows, min(total, cap), False, total > cap)
    total, capped = capped_count(queryset, cap)
    return Page(rows, total, has_more, capped)


def fetch_filtered_page(filters: dict | None, listing) -> tuple[Page, PageRequest]:
    """The page ``filters`` ask for (checked before the filters themselves) of ``listing(filters)``,
    the filtered, ordered queryset."""
    filters = filters or {}
    page = parse_page_request(filters)
    return fetch_page(listing(filters), page), page


def _int(params: dict, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse_int(raw, name, minimum=minimum, maximum=maximum, code=ErrorCode.INVALID_FILTER)
    except InvalidInput as exc:
        raise InvalidInput(f"Invalid filter '{name}': {exc.text.removeprefix(name + ' ')}", ErrorCode.INVALID_FILTER,
                           field=name) from None


def parse_page_request(params: dict) -> PageRequest:
    if params.get("limit") is not None or params.get("offset") is not None:
        limit = _int(params, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        return PageRequest(offset=_int(params, "offset", 0, 0, MAX_OFFSET), limit=limit)
    size = _int(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int(params, "page", 1, 1, MAX_OFFSET // size + 1)
    return PageRequest(offset=(page - 1) * size, limit=size)


class FikoPageNumberPagination(PageNumberPagination):
    """REST lists: ``{count, next, previous, results}``."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class FikoListPagination(BasePagination):
    """REST lists of the Fiko API (``/api/customers/``, ``/api/conversations/``, ``/api/tags/``):
    ``{count, next, previous, results}``, paged by ``limit``/``offset`` or ``page``/``page_size``
    with the same rules as the sockets (``parse_page_request``): a bad value is a 400
    ``invalid_filter``, never silently clamped."""

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.request = request
        self.page_request = parse_page_request(params)
        self.by_offset = params.get("limit") is not None or params.get("offset") is not None
        self.page = fetch_page(queryset, self.page_request)
        return self.page.rows

    def _link(self, offset: int | None) -> str | None:
        if offset is None:
            return None
        url = self.request.build_absolute_uri()
        if self.by_offset:
            return replace_query_param(replace_query_param(url, "offset", offset), "limit", self.page_request.limit)
        page = offset // self.page_request.limit + 1
        return replace_query_param(url, "page", page)

    def get_paginated_response(self, data):
        page = self.page_request
        after = page.offset + page.limit
        response = Response({
            "count": self.page.total,
            "next": self._link(after if self.page.has_more else None),
            "previous": self._link(max(page.offset - page.limit, 0) if page.offset > 0 else None),
            "results": data,
        })
        # The body keeps SPEC's {count, next, previous, results}; a capped count says so here.
        response["X-Count-Capped"] = "true" if self.page.count_capped else "false"
        return response

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "results"],
            "properties": {
                "count": {"type": "integer", "example": 123},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        def param(name, description):
            return {"name": name, "required": False, "in": "query", "description": description,
                    "schema": {"type": "integer"}}

        return [
            param("limit", f"Rows per page (1-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}); with offset."),
            param("offset", "Rows to skip; with limit."),
            param("page", "Page number from 1; with page_size."),
            param("page_size", f"Rows per page (1-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE})."),
        ]
