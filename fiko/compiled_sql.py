"""Hot reads of a fixed shape, compiled to SQL once per process.

Django compiles a queryset to SQL each time it runs it. For the conversation row that every
``message.created`` event carries (joined with its assignee, last message and customer, and the
customer's counts as subqueries), compiling took more of the server's CPU than everything else
in storing the message (py-spy profile of W1; see bench/RESULTS.md). ``CompiledQuery`` compiles
such a shape once, with a marker standing for the one value that changes (an id), and then runs
the same SQL text with the real value, through Django's own row-to-model code, so the objects
are exactly those the plain queryset would give.

Only for querysets whose SQL depends on nothing but that value: no filters from users, no
ordering or slicing that varies, no per-request settings.
"""
import copy
import threading

from django.db import connections

# A value no row has, easy to find among the compiled parameters.
_MARKER = -7_340_032_917


class CompiledQuery:
    def __init__(self, build):
        """``build(value)`` returns the queryset for one value, e.g.
        ``lambda pk: conversations_for_wire().filter(pk=pk)``."""
        self._build = build
        self._compiled: dict[str, tuple] = {}  # database alias -> (compiler, sql, params, marker positions)
        self._lock = threading.Lock()

    def rows(self, value: int) -> list:
        """The queryset's rows for ``value`` (prefetches included), compiled only once."""
        queryset = self._build(value)
        db = queryset.db
        compiler, sql, params, positions = self._compiled.get(db) or self._compile(db)
        params = list(params)
        for position in positions:
            params[position] = value
        runner = copy.copy(compiler)
        runner.connection = connections[db]  # this thread's connection
        runner.as_sql = lambda *args, **kwargs: (sql, tuple(params))
        queryset.query.get_compiler = lambda *args, **kwargs: runner
        return list(queryset)

    def _compile(self, db: str) -> tuple:
        with self._lock:
            if db not in self._compiled:
                compiler = self._build(_MARKER).query.get_compiler(using=db)
                sql, params = compiler.as_sql()  # also sets what reading rows needs (select, klass_info…)
                positions = [i for i, param in enumerate(params) if type(param) is int and param == _MARKER]
                if not positions:
                    raise ValueError("the value does not appear among the query's parameters")
                compiler.connection = None  # each run takes its own thread's connection
                self._compiled[db] = (compiler, sql, tuple(params), positions)
        return self._compiled[db]
