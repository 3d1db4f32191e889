"""The fuzz suite reads its surface from the code; these tests make sure that reading still
finds everything, so that a new endpoint, frame type or field cannot slip past it quietly."""
import ast
import inspect
import textwrap

import pytest

from .rest_surface import WEBHOOK_PREFIX, openapi, operations, shape, urlconf_routes
from .socket_surface import frame_fields, frame_types, handler_for, socket_routes

pytestmark = pytest.mark.fuzz


def test_every_urlconf_route_is_fuzzed():
    fuzzed = {shape(op.template) for op in operations()}
    served_by = {}
    for route in urlconf_routes():
        cls = getattr(route.view, "cls", None) or getattr(route.view, "view_class", None)
        served_by.setdefault(cls, set()).add(shape(route.template))
    for route in urlconf_routes():
        if route.template.startswith("/" + WEBHOOK_PREFIX):
            continue  # test_webhook_fuzz.py
        cls = getattr(route.view, "cls", None) or getattr(route.view, "view_class", None)
        same_code = served_by.get(cls, set()) if cls is not None and not getattr(route.view, "actions", None) else set()
        assert shape(route.template) in fuzzed or same_code & fuzzed, f"{route.template} is not fuzzed"


def test_every_schema_operation_is_a_urlconf_route_that_is_fuzzed():
    """The schema is where the fuzz suite learns bodies and query parameters: each of its
    operations must be one the URL conf serves (a stale schema would fuzz the wrong fields)."""
    routes = {(shape(r.template), m) for r in urlconf_routes() for m in r.methods}
    for path, ops in openapi()["paths"].items():
        for method in ops:
            if method in ("get", "post", "put", "patch", "delete"):
                assert (shape(path), method) in routes, f"{method.upper()} {path} is in the schema, not the URL conf"
    described = [op for op in operations() if op.in_schema]
    assert all(op.slots for op in described if op.content_type or "{" in op.template)


def _uses_frame(func) -> bool:
    node = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(func)))).body[0]
    params = [a.arg for a in node.args.args]
    if len(params) < 2:
        return False
    return any(isinstance(n, ast.Name) and n.id == params[1] for n in ast.walk(node) if n is not node)


def test_every_socket_frame_that_reads_fields_has_them_found():
    routes = socket_routes()
    assert routes, "no socket routes found"
    for route in routes:
        types = frame_types(route.consumer)
        assert "ping" in types, f"{route}: no on_ping found: frame types are not being read"
        for frame_type in types:
            handler = handler_for(route.consumer, frame_type)
            if _uses_frame(handler):
                assert frame_fields(route.consumer, frame_type), f"{route} {frame_type}: reads the frame, no field"


def test_surface_counts(capsys):
    ops = operations()
    slots = sum(len(op.slots) * len(op.actors) for op in ops)
    frames = [(r, t) for r in socket_routes() for t in frame_types(r.consumer)]
    fields = sum(len(frame_fields(r.consumer, t)) for r, t in frames)
    with capsys.disabled():
        print(f"\nfuzz surface: {len(ops)} REST operations, {slots} (slot, actor) pairs; "
              f"{len(socket_routes())} socket routes, {len(frames)} frame types, {fields} frame fields")
    assert len(ops) >= 30 and slots >= 150 and len(frames) >= 30
