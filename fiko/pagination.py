"""Pagination for sockets and REST: ``limit``/``offset`` (seed 000) or ``page``/``page_size``
(seeds 001, 004), at most ``MAX_PAGE_SIZE`` a page."""
from dataclasses import dataclass

from rest_framework.pagination import BasePagination, PageNumberPagination
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from fiko.errors import ErrorCode, InvalidInput
from fiko.inputs import INT_MAX, parse_int

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
PAGINATION_KEYS = ("limit", "offset", "page", "page_size")
MAX_OFFSET = INT_MAX  # rows to skip; far past any list, and offset + limit stays a valid bigint


@dataclass(frozen=True)
class PageRequest:
    offset: int
    limit: int

    @property
    def page(self) -> int:
        return self.offset // self.limit + 1

    def describe(self, total: int) -> dict:
        return {
            "limit": self.limit,
            "offset": self.offset,
            "page": self.page,
            "page_size": self.limit,
            "total": total,
            "has_more": self.offset + self.limit < total,
        }


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
        self.total = queryset.count()
        return list(queryset[self.page_request.offset: self.page_request.offset + self.page_request.limit])

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
        return Response({
            "count": self.total,
            "next": self._link(after if after < self.total else None),
            "previous": self._link(max(page.offset - page.limit, 0) if page.offset > 0 else None),
            "results": data,
        })

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
