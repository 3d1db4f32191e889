"""Hot reads of a fixed shape, compiled to SQL once per process.

Django compiles a queryset to SQL each time it runs it. On the path of every stored message,
compiling cost more of the server's CPU than the database took to answer (py-spy profile of
W1; see bench/RESULTS.md): the conversation row lock with its two probes, and the conversation
row that every ``message.created`` event carries (joined with its assignee, last message and
customer, the customer's counts as subqueries). ``CompiledQuery`` compiles such a shape once,
with markers standing for the values that change (ids, a client message id), and then runs the
same SQL text with the real values, through Django's own row-to-model code, so the objects are
exactly those the plain queryset gives.

Only for querysets whose SQL text depends on nothing but the shape: each value must reach the
SQL as a parameter (a filter value), not change which SQL is written. A caller with several
shapes keeps one ``CompiledQuery`` per shape.
"""
import copy
import threading

from django.db import connections

_INT_MARKER = -2_013_265_917  # ids no row has, easy to find among the compiled parameters; within a 32-bit
# integer, since Django compiles a filter by a value out of its column's range as "no rows"
_TEXT_MARKER = "\ue000fiko-compiled-value-{}"


class CompiledQuery:
    def __init__(self, build):
        """``build(**values)`` returns the queryset for those values, e.g.
        ``lambda pk: conversations_for_wire().filter(pk=pk)``. It is called once, with markers."""
        self._build = build
        self._compiled: tuple | None = None  # (queryset, compiler, sql, params, {name: positions})
        self._lock = threading.Lock()

    def rows(self, **values) -> list:
        """The queryset's rows for ``values`` (prefetches included)."""
        template, compiler, sql, params, positions = self._compiled or self._compile(values)
        params = list(params)
        for name, places in positions.items():
            for place in places:
                params[place] = values[name]
        runner = copy.copy(compiler)
        runner.connection = connections[template.db]  # this thread's connection
        runner.as_sql = lambda *args, **kwargs: (sql, tuple(params))
        queryset = template._chain()  # a copy of the queryset: building it anew cost more than copying
        queryset.query.get_compiler = lambda *args, **kwargs: runner
        return list(queryset)

    def _compile(self, values: dict) -> tuple:
        with self._lock:
            if self._compiled is None:
                markers = {}
                for index, (name, value) in enumerate(sorted(values.items())):
                    if isinstance(value, bool) or not isinstance(value, (int, str)):
                        raise TypeError(f"{name}: only ids and text can be compiled values")
                    markers[name] = _INT_MARKER - index if isinstance(value, int) else _TEXT_MARKER.format(index)
                template = self._build(**markers)
                compiler = template.query.get_compiler(using=template.db)
                sql, params = compiler.as_sql()  # also sets what reading rows needs (select, klass_info…)
                positions = {name: [i for i, param in enumerate(params) if type(param) is type(marker) and param == marker]
                             for name, marker in markers.items()}
                missing = [name for name, places in positions.items() if not places]
                if missing:
                    raise ValueError(f"not parameters of the query: {missing}")
                compiler.connection = None  # each run takes its own thread's connection
                self._compiled = (template, compiler, sql, tuple(params), positions)
        return self._compiled


def set_prefetched(instance, relation: str, rows: list) -> None:
    """Leave ``rows`` on ``instance`` as ``prefetch_related(relation)`` would (``relation`` a
    many-to-many or reverse relation), for rows read by a ``CompiledQuery`` instead of a
    prefetch compiled anew: ``instance.<relation>.all()`` then answers without a query."""
    related = getattr(instance, relation).all()
    related._result_cache, related._prefetch_done = rows, True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[relation] = related
