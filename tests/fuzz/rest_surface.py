"""The REST surface, read from the code: every route of the URL conf with the methods its view
serves, joined with its operation in the OpenAPI schema (drf-spectacular, the same generator
``/api/schema/`` uses) for the request fields, query parameters (every FilterSet filter) and
security. Nothing here lists an endpoint or a field by hand; a new endpoint or field is fuzzed
the day it is added."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from django.urls import URLPattern, URLResolver, get_resolver

EXCLUDED_PREFIXES = ("admin/",)  # Django's HTML admin, not an API
WEBHOOK_PREFIX = "integrations/"  # fuzzed by test_webhook_fuzz.py with valid signatures
ALL_METHODS = ("get", "post", "put", "patch", "delete")
WRITE_METHODS = ("post", "put", "patch", "delete")


@dataclass(frozen=True)
class Route:
    template: str  # "/api/tags/{pk}/"
    view: object  # the callback
    methods: tuple[str, ...]  # what the view serves (lowercase)
    is_drf: bool


def _template(route: str) -> str:
    route = re.sub(r"\(\?P<([^>]+)>[^)]*\)", r"{\1}", route)  # regex groups
    route = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", route)  # path converters
    return "/" + route.replace("^", "").replace("$", "")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def _methods(callback) -> tuple[tuple[str, ...], bool]:
    actions = getattr(callback, "actions", None)
    if actions:  # a ViewSet route: the method -> action mapping of this route
        return tuple(sorted(actions)), True
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    if cls is not None:
        from rest_framework.views import APIView

        served = tuple(m for m in ALL_METHODS if hasattr(cls, m))
        return served, issubclass(cls, APIView)
    return ("get",), False  # a plain function view


@lru_cache(maxsize=None)
def urlconf_routes() -> tuple[Route, ...]:
    routes = []
    for route, callback in _walk(get_resolver().url_patterns):
        if route.startswith(EXCLUDED_PREFIXES):
            continue
        methods, is_drf = _methods(callback)
        routes.append(Route(_template(route), callback, methods, is_drf))
    return tuple(routes)


def shape(template: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", template)


@lru_cache(maxsize=None)
def openapi() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def deref(schema: dict | None) -> dict:
    """Follow ``$ref`` and single-item ``allOf`` (drf-spectacular's enum wrapping)."""
    schema = schema or {}
    while True:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            schema = {**openapi()["components"]["schemas"][name], **{k: v for k, v in schema.items() if k != "$ref"}}
        elif len(schema.get("allOf", [])) == 1:
            schema = {**deref(schema["allOf"][0]), **{k: v for k, v in schema.items() if k != "allOf"}}
        else:
            return schema


@dataclass(frozen=True)
class Slot:
    """One place a hostile value goes: ``where`` is path | query | body | key | raw | file | method."""

    where: str
    name: str = ""
    schema: tuple = ()  # the field's schema as sorted items (hashable)

    def __str__(self):
        return f"{self.where}:{self.name}" if self.name else self.where


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # as in the URL conf
    actors: tuple[str, ...]  # anonymous | staff | customer
    content_type: str | None  # request body type (None: no body)
    body_schema: tuple = ()  # properties as ((name, schema-json), ...)
    required: tuple[str, ...] = ()
    slots: tuple[Slot, ...] = field(default=())
    in_schema: bool = True

    def __str__(self):
        return f"{self.method.upper()} {self.template}"


def _frozen(schema: dict) -> tuple:
    import json

    return (("json", json.dumps(schema, sort_keys=True)),)


def thawed(frozen: tuple) -> dict:
    import json

    return json.loads(dict(frozen)["json"]) if frozen else {}


def _actors(security) -> tuple[str, ...]:
    names = {name for requirement in (security or []) for name in requirement}
    if not names:
        return ("anonymous",)
    actors = []
    if names & {"staffJWT", "cookieAuth", "staffOrCustomerJWT"}:
        actors.append("staff")
    if names & {"customerJWT", "staffOrCustomerJWT"}:
        actors.append("customer")
    return tuple(actors)


def _body_slots(properties: dict, prefix: str = "") -> list[Slot]:
    slots = []
    for name, prop in properties.items():
        prop = deref(prop)
        if prop.get("readOnly"):
            continue
        slots.append(Slot("body", prefix + name, _frozen(prop)))
        if prop.get("type") == "object" and prop.get("properties"):
            slots.extend(_body_slots(prop["properties"], prefix + name + "."))
        if prop.get("type") == "array":
            slots.append(Slot("body", prefix + name + "[]", _frozen(deref(prop.get("items")))))
    return slots


def _view_code(route: Route, method: str):
    cls = getattr(route.view, "cls", None) or getattr(route.view, "view_class", None)
    return (cls, method) if cls is not None and not getattr(route.view, "actions", None) else None


@lru_cache(maxsize=None)
def operations() -> tuple[Operation, ...]:
    """Every (method, route) of the URL conf but the webhooks, with its schema operation. A
    route served by the same view class as an earlier one (``TokenRefreshView`` at three
    paths) is the same code: it is fuzzed once, at the first path."""
    paths = {shape(path): ops for path, ops in openapi()["paths"].items()}
    result, seen = [], set()
    for route in urlconf_routes():
        if route.template.startswith("/" + WEBHOOK_PREFIX):
            continue
        if any(_view_code(route, m) in seen for m in route.methods if _view_code(route, m)):
            continue
        seen.update(_view_code(route, m) for m in route.methods)
        path_params = re.findall(r"\{([^}]+)\}", route.template)
        for method in route.methods:
            op = paths.get(shape(route.template), {}).get(method)
            slots = [Slot("path", name) for name in path_params]
            if op is None:
                # Not described by the schema: ids in the path, an unknown query parameter and,
                # for a write, a hostile body.
                slots.append(Slot("query", "fuzz"))
                if method in WRITE_METHODS:
                    slots += [Slot("raw"), Slot("key")]
                result.append(Operation(method, route.template, ("staff",), "application/json"
                                        if method in WRITE_METHODS else None, slots=tuple(slots), in_schema=False))
                continue
            for param in op.get("parameters", []):
                if param["in"] == "query":
                    slots.append(Slot("query", param["name"], _frozen(param.get("schema", {}))))
            content = op.get("requestBody", {}).get("content", {})
            content_type = next(iter(content), None)
            body = deref(content[content_type]["schema"]) if content_type else {}
            properties = body.get("properties", {})
            if content_type == "application/json":
                slots += _body_slots(properties)
                slots += [Slot("raw"), Slot("key")]
            elif content_type == "multipart/form-data":
                for name, prop in properties.items():
                    if deref(prop).get("format") == "binary":
                        slots += [Slot("file", name), Slot("file", name + ".filename"), Slot("body", name)]
                slots.append(Slot("raw"))
            frozen_props = tuple((name, dict(_frozen(deref(prop)))["json"]) for name, prop in properties.items())
            result.append(Operation(method, route.template, _actors(op.get("security")), content_type,
                                    frozen_props, tuple(body.get("required", [])), tuple(slots)))
    return tuple(result)


def unserved_methods() -> list[tuple[str, str]]:
    """(method, template) pairs a route does not serve: each must be a JSON 405, never a 5xx."""
    pairs = []
    for route in urlconf_routes():
        if route.template.startswith("/" + WEBHOOK_PREFIX) or not route.is_drf:
            continue
        pairs += [(m, route.template) for m in ALL_METHODS if m not in route.methods]
    return pairs
