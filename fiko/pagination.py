"""Pagination for sockets and REST: ``limit``/``offset`` (seed 000) or ``page``/``page_size``
(seeds 001, 004), at most ``MAX_PAGE_SIZE`` a page."""
from dataclasses import dataclass

from rest_framework.pagination import PageNumberPagination

from fiko.errors import ErrorCode, InvalidInput

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
PAGINATION_KEYS = ("limit", "offset", "page", "page_size")


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


def _int(params: dict, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
        if isinstance(raw, float) or isinstance(raw, bool):
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(f"Invalid filter '{name}': must be an integer", ErrorCode.INVALID_FILTER, field=name)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidInput(f"Invalid filter '{name}': must be {bound}", ErrorCode.INVALID_FILTER, field=name)
    return value


def parse_page_request(params: dict) -> PageRequest:
    if params.get("limit") is not None or params.get("offset") is not None:
        limit = _int(params, "limit", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
        return PageRequest(offset=_int(params, "offset", 0, 0), limit=limit)
    size = _int(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    page = _int(params, "page", 1, 1)
    return PageRequest(offset=(page - 1) * size, limit=size)


class FikoPageNumberPagination(PageNumberPagination):
    """REST lists: ``{count, next, previous, results}``."""

    page_size = DEFAULT_PAGE_SIZE
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
