"""The socket surface, read from the code: every route of ``fiko.routing.websocket_urlpatterns``,
the token kind its consumer accepts, every inbound frame type it dispatches (its ``on_<type>``
methods and ``type_aliases``, exactly what ``BaseConsumer.dispatch_frame`` looks up), and the
fields each handler reads from the frame, found in its source: ``frame.get("x")``,
``frame["x"]``, ``helper(frame, "x")``, followed into the helpers and methods the frame is
passed to. A ``filters`` field expands into every filter of the app's FilterSet and the
pagination keys. A new frame type or field is fuzzed the day it is written."""
from __future__ import annotations

import ast
import importlib
import inspect
import re
import textwrap
from dataclasses import dataclass
from functools import lru_cache

import django_filters

from fiko.filtering import PAGINATION_KEYS


@dataclass(frozen=True)
class SocketRoute:
    path: str  # with {param} placeholders
    consumer: type
    principal: str  # "staff" | "customer"

    def __str__(self):
        return self.path


def _template(pattern) -> str:
    text = str(pattern.pattern)
    text = re.sub(r"\(\?P<([^>]+)>[^)]*\)", r"{\1}", text)
    text = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", text)
    return "/" + text.replace("^", "").replace("$", "")


@lru_cache(maxsize=None)
def socket_routes() -> tuple[SocketRoute, ...]:
    from fiko.routing import websocket_urlpatterns

    routes = []
    for pattern in websocket_urlpatterns:
        consumer = pattern.callback.consumer_class
        routes.append(SocketRoute(_template(pattern), consumer, str(consumer.principal_kind)))
    return tuple(routes)


def frame_types(consumer: type) -> tuple[str, ...]:
    handlers = {name[3:] for name in dir(consumer) if name.startswith("on_") and callable(getattr(consumer, name))}
    return tuple(sorted(handlers | set(getattr(consumer, "type_aliases", {}))))


def handler_for(consumer: type, frame_type: str):
    target = getattr(consumer, "type_aliases", {}).get(frame_type, frame_type)
    return getattr(consumer, f"on_{target}")


def _fields_read(func, cls, param_index: int | None, seen: set) -> set[str]:
    func = inspect.unwrap(func)
    if not inspect.isfunction(func) or func in seen:
        return set()
    seen.add(func)
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
    except (OSError, TypeError, SyntaxError):
        return set()
    node = tree.body[0]
    params = [a.arg for a in node.args.args]
    if param_index is None:  # a handler: (self, frame)
        param_index = 1
    if param_index >= len(params):
        return set()
    frame = params[param_index]
    fields: set[str] = set()

    def is_frame(expr) -> bool:
        return isinstance(expr, ast.Name) and expr.id == frame

    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Attribute) and f.attr == "get" and is_frame(f.value) and sub.args:
                if isinstance(sub.args[0], ast.Constant) and isinstance(sub.args[0].value, str):
                    fields.add(sub.args[0].value)
            for i, arg in enumerate(sub.args):
                if not is_frame(arg):
                    continue
                fields.update(a.value for a in sub.args[i + 1:]
                              if isinstance(a, ast.Constant) and isinstance(a.value, str))
                callee, offset = None, 0
                if isinstance(f, ast.Name):
                    callee = func.__globals__.get(f.id)
                elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "self":
                    callee, offset = getattr(cls, f.attr, None), 1
                if callee is not None:
                    fields |= _fields_read(callee, cls, i + offset, seen)
        elif isinstance(sub, ast.Subscript) and is_frame(sub.value):
            if isinstance(sub.slice, ast.Constant) and isinstance(sub.slice.value, str):
                fields.add(sub.slice.value)
    return fields


def filterset_for(consumer: type):
    """The FilterSet of the consumer's app (``customers.filters.CustomerFilter`` for
    ``customers.consumers``), or None."""
    try:
        module = importlib.import_module(consumer.__module__.rsplit(".", 1)[0] + ".filters")
    except ImportError:
        return None
    sets = [obj for obj in vars(module).values() if isinstance(obj, type)
            and issubclass(obj, django_filters.FilterSet) and obj is not django_filters.FilterSet
            and obj.__module__ == module.__name__]
    return sets[0] if sets else None


def _body(func) -> tuple:
    code = inspect.unwrap(func).__code__
    return code.co_code, code.co_consts, code.co_names


def same_handler_as(consumer: type, frame_type: str) -> str | None:
    """An earlier frame type of this consumer whose handler has the same code (an alias, or
    ``get_customers``/``filter_customers`` that both run the list): its fields are fuzzed there."""
    body = _body(handler_for(consumer, frame_type))
    for other in frame_types(consumer):
        if other == frame_type:
            return None
        if _body(handler_for(consumer, other)) == body:
            return other
    return None


def frame_fields(consumer: type, frame_type: str) -> tuple[str, ...]:
    fields = _fields_read(handler_for(consumer, frame_type), consumer, None, set()) - {"type"}
    if "filters" in fields:
        filterset = filterset_for(consumer)
        names = list(filterset.base_filters) if filterset else []
        fields |= {f"filters.{name}" for name in [*names, *PAGINATION_KEYS]}
    return tuple(sorted(fields))
