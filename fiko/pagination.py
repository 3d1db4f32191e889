"""Pagination for sockets and REST: ``limit``/``offset`` (seed 000) or ``page``/``page_size``
(seeds 001, 004), at most ``MAX_PAGE_SIZE`` a page.

``fetch_page`` reads one page and its total as SPEC says: the total is exact up to
``COUNT_CAP``, past it the cap with ``count_capped``; ``has_more`` is always exact (the page is
read one row long). No COUNT runs when the page itself tells the total (a page that is not full).
Every page reads its rows through the ids of the page, in a narrow query the sort index can
answer (an OFFSET walks the index only; filters on the columns it carries are tested there).

A list whose order allows it (fiko/keyset.py: the customer and conversation lists) also pages by
``cursor``: every page says ``next_cursor`` (null when ``has_more`` is false), and a request that
passes it back gets the ``limit`` rows after the cursor's row, found by a condition on the sort
key instead of an OFFSET (a deep page costs what the first page costs). ``offset``/``page`` of
such a page are the ones the cursor carries; ``total`` is counted as for any page.
"""
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Subquery

from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from fiko.errors import ErrorCode, InvalidInput
from fiko.inputs import INT_MAX, parse_int
from fiko.keyset import CURSOR_FIELD, Cursor, cursor_for, cursor_values, order_keys, parse_cursor, rows_after

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
PAGINATION_KEYS = ("limit", "offset", "page", "page_size", CURSOR_FIELD)
MAX_OFFSET = INT_MAX  # rows to skip; far past any list, and offset + limit stays a valid bigint
COUNT_CAP = 10_000  # list totals are exact up to here (SPEC: at least 10,000); settings.LIST_COUNT_CAP


@dataclass(frozen=True)
class PageRequest:
    offset: int
    limit: int
    cursor: Cursor | None = None  # the rows after the cursor's row; ``offset`` is the cursor's

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
            "next_cursor": page.next_cursor,
        }


@dataclass(frozen=True)
class Page:
    rows: list
    total: int  # exact up to COUNT_CAP, else COUNT_CAP
    has_more: bool  # always exact
    count_capped: bool
    next_cursor: str | None = None  # the page after this one by cursor; None when there is none


def count_cap() -> int:
    return getattr(settings, "LIST_COUNT_CAP", COUNT_CAP)


def capped_count(queryset, cap: int) -> tuple[int, bool]:
    """(min(matches, cap), whether there are more than ``cap``): counts at most cap + 1 rows,
    in whatever order is cheapest, without the annotations."""
    found = queryset.order_by().values("pk")[: cap + 1].count()
    return min(found, cap), found > cap


def fetch_page(queryset, request: PageRequest) -> Page:
    """One page of ``queryset`` (ordered) and its total; see the module docstring."""
    keys = order_keys(queryset)
    start, stop = request.offset, request.offset + request.limit + 1
    if request.cursor is not None:
        if keys is None:
            raise InvalidInput(f"Invalid filter '{CURSOR_FIELD}': this list does not page by cursor",
                               ErrorCode.INVALID_FILTER, field=CURSOR_FIELD)
        rows = rows_after(queryset, keys, cursor_values(keys, request.cursor), request.limit + 1)
    else:
        # The page's ids first, in a narrow query the order's index can answer alone (it carries
        # the columns common filters test: customer_ws_activity_cover), then only its rows: a
        # deep page skips rows in the index, a filtered one tests them there without reading
        # each walked row.
        ids = queryset.values("pk")[start:stop]
        rows = list(queryset.filter(pk__in=Subquery(ids)))
    has_more = len(rows) > request.limit
    rows = rows[: request.limit]
    next_cursor = cursor_for(keys, rows[-1], request.offset + len(rows)) if has_more and keys else None
    cap = count_cap()
    # The page tells the total when it is the last one, unless it was found by a cursor (rows
    # before the cursor may have come or gone since its offset was counted).
    if not has_more and request.cursor is None and (rows or not request.offset):
        total = request.offset + len(rows)
        return Page(rows, min(total, cap), False, total > cap)
    total, capped = capped_count(queryset, cap)
    return Page(rows, total, has_more, capped, next_cursor)


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
    """The page ``params`` ask for: ``cursor`` (with ``limit`` or ``page_size``), or ``limit``/
    ``offset``, or ``page``/``page_size``."""
    raw_cursor = params.get(CURSOR_FIELD)
    if raw_cursor is not None and raw_cursor != "":
        for name in ("offset", "page"):
            if params.get(name) not in (None, ""):
                raise InvalidInput(f"Invalid filter '{name}': give '{CURSOR_FIELD}' or '{name}', not both "
                                   f"(the cursor says where its page is)", ErrorCode.INVALID_FILTER, field=name)
        cursor = parse_cursor(raw_cursor)
        size_name = "limit" if params.get("limit") is not None else "page_size"
        return PageRequest(offset=cursor.offset, limit=_int(params, size_name, DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE),
                           cursor=cursor)
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
    ``invalid_filter``, never silently clamped. A list that pages by cursor (fiko/keyset.py)
    adds ``next_cursor``; a request that passed ``cursor`` gets a ``next`` link by cursor."""

    def paginate_queryset(self, queryset, request, view=None):
        params = request.query_params
        self.request = request
        self.page_request = parse_page_request(params)
        self.by_offset = params.get("limit") is not None or params.get("offset") is not None
        self.by_cursor = self.page_request.cursor is not None
        self.has_cursors = order_keys(queryset) is not None
        self.page = fetch_page(queryset, self.page_request)
        return self.page.rows

    def _link(self, offset: int | None) -> str | None:
        if offset is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), CURSOR_FIELD)
        if self.by_offset:
            return replace_query_param(replace_query_param(url, "offset", offset), "limit", self.page_request.limit)
        page = offset // self.page_request.limit + 1
        return replace_query_param(url, "page", page)

    def _next_link(self) -> str | None:
        if not self.page.has_more:
            return None
        if self.by_cursor:
            url = remove_query_param(remove_query_param(self.request.build_absolute_uri(), "offset"), "page")
            return replace_query_param(url, CURSOR_FIELD, self.page.next_cursor)
        return self._link(self.page_request.offset + self.page_request.limit)

    def get_paginated_response(self, data):
        page = self.page_request
        body = {
            "count": self.page.total,
            "next": self._next_link(),
            "previous": self._link(max(page.offset - page.limit, 0) if page.offset > 0 else None),
        }
        if self.has_cursors:
            body["next_cursor"] = self.page.next_cursor
        response = Response({**body, "results": data})
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
                "next_cursor": {"type": "string", "nullable": True,
                                "description": "Lists that page by cursor (customers, conversations): pass it back "
                                               "as `cursor` for the next page; null on the last page."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        def param(name, description, kind="integer"):
            return {"name": name, "required": False, "in": "query", "description": description,
                    "schema": {"type": kind}}

        return [
            param("limit", f"Rows per page (1-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}); with offset or cursor."),
            param("offset", "Rows to skip; with limit."),
            param("page", "Page number from 1; with page_size."),
            param("page_size", f"Rows per page (1-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE})."),
            param(CURSOR_FIELD, "The rows after the previous page: its `next_cursor` (lists that page by cursor: "
                                "customers, conversations), instead of offset/page; made for one order_by.",
                  kind="string"),
        ]
