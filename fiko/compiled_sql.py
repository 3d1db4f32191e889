"""Hot reads and writes of a fixed shape, compiled to SQL once per process.

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

The writes of every stored message, its ``INSERT`` and its conversation's ``UPDATE``, cost
more than half of the store's CPU in the same profile when made by ``Model.save`` (the SQL
built and compiled anew each time). ``CompiledInsert`` and ``CompiledUpdate`` write that SQL
once per process and send each row's values through the fields' own ``get_db_prep_save``, as
Django does; like ``bulk_create`` and ``QuerySet.update`` they send no ``pre_save`` /
``post_save`` signals.
"""
import copy
import threading

from django.db import connections, models, router

_INT_MARKER = -2_013_265_917  # ids no row has, easy to find among the compiled parameters; within a 32-bit
# integer, since Django compiles a filter by a value out of its column's range as "no rows"
_TEXT_MARKER = "\ue000fiko-compiled-value-{}"


class CompiledQuery:
    def __init__(self, build):
        """``build(**values)`` returns the queryset for those values, e.g.
        ``lambda pk: conversations_for_wire().filter(pk=pk)``. It is called once, with markers."""
        self._build = build
        self._compiled: tuple | None = None  # (queryset, compiler, sql, params, {name: positions}, converters)
        self._lock = threading.Lock()

    def rows(self, **values) -> list:
        """The queryset's rows for ``values`` (prefetches included)."""
        template, compiler, sql, params, positions, converters = self._compiled or self._compile(values)
        params = list(params)
        for name, places in positions.items():
            for place in places:
                params[place] = values[name]
        runner = copy.copy(compiler)
        runner.connection = connections[template.db]  # this thread's connection
        runner.as_sql = lambda *args, **kwargs: (sql, tuple(params))
        runner.get_converters = lambda expressions: converters  # the same columns every run
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
                # The row converters depend on the columns only (each is called with the run's
                # connection): worked out once, not for every run.
                converters = compiler.get_converters([s[0] for s in compiler.select[0:compiler.col_count]])
                compiler.connection = None  # each run takes its own thread's connection
                self._compiled = (template, compiler, sql, tuple(params), positions, converters)
        return self._compiled


def set_prefetched(instance, relation: str, rows: list) -> None:
    """Leave ``rows`` on ``instance`` as ``prefetch_related(relation)`` would (``relation`` a
    many-to-many or reverse relation), for rows read by a ``CompiledQuery`` instead of a
    prefetch compiled anew: ``instance.<relation>.all()`` then answers without a query."""
    related = getattr(instance, relation).all()
    related._result_cache, related._prefetch_done = rows, True
    instance.__dict__.setdefault("_prefetched_objects_cache", {})[relation] = related


# Field kinds whose value reaches the database as is when it already has the Python type the
# column takes (what their get_db_prep_save would return unchanged); any other value, and
# every other kind of field (JSON, dates and times…), goes through get_db_prep_save.
_PLAIN_TYPES = (
    ((models.CharField, models.TextField), (str, type(None))),
    ((models.BooleanField,), (bool, type(None))),
    ((models.IntegerField, models.AutoField), (int, type(None))),
)


def _plain_types(field) -> tuple:
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    if type(target).get_db_prep_save is not models.Field.get_db_prep_save:
        return ()
    for kinds, plain in _PLAIN_TYPES:
        if isinstance(target, kinds) and not isinstance(target, (models.JSONField,)):
            return plain
    return ()


def _prepared(fields: list, plains: list, values: list, connection) -> list:
    return [value if type(value) in plain else field.get_db_prep_save(value, connection)
            for field, plain, value in zip(fields, plains, values)]


class CompiledInsert:
    """``INSERT`` of one new ``model`` row (every concrete field but the auto pk), returning its
    pk: what ``Model.save`` does for a new instance (``auto_now``/``auto_now_add`` fields the
    caller left unset are stamped by their ``pre_save``), with the SQL written once per process
    and no signals."""

    def __init__(self, model):
        meta = model._meta
        self.model = model
        self._fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
        self._plains = [_plain_types(f) for f in self._fields]
        self._stamped = [f for f in self._fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)]
        self._sql: dict[str, str] = {}  # by database alias

    def insert(self, obj) -> None:
        """Store ``obj`` (a new instance) and set its pk."""
        using, connection, params = self._prepare(obj)
        sql = self._sql.get(using) or self._write_sql(using)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if connection.features.can_return_columns_from_insert:
                pk = cursor.fetchone()[0]
            else:
                pk = connection.ops.last_insert_id(cursor, self.model._meta.db_table, self.model._meta.pk.column)
        self._stored(obj, pk, using)

    def insert_then_update(self, obj, update: "CompiledUpdate", pk, values: list, increments: list = ()) -> None:
        """Store ``obj`` as ``insert`` does, then ``update.update(pk, [obj.pk, *values],
        increments)``: ``update``'s first field takes the new row's pk (a conversation's
        ``last_message_id``). On PostgreSQL both are one statement (``WITH new AS (INSERT …
        RETURNING pk) UPDATE … FROM new``): one round trip instead of two."""
        if connections[router.db_for_write(self.model, instance=obj)].vendor != "postgresql":
            self.insert(obj)
            update.update(pk, [obj.pk, *values], increments)
            return
        using, connection, params = self._prepare(obj)
        sql = self._sql.get((using, update)) or self._write_combined_sql(using, update)
        params += update.params(connection, pk, [None, *values], increments)[1:]  # all but the new pk's place
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            self._stored(obj, cursor.fetchone()[0], using)

    def _prepare(self, obj) -> tuple:
        using = router.db_for_write(self.model, instance=obj)
        connection = connections[using]
        for field in self._stamped:
            if getattr(obj, field.attname) is None:
                field.pre_save(obj, True)
        return using, connection, _prepared(self._fields, self._plains, [getattr(obj, f.attname) for f in self._fields],
                                            connection)

    @staticmethod
    def _stored(obj, pk, using: str) -> None:
        obj.pk = pk
        obj._state.adding, obj._state.db = False, using

    def _write_combined_sql(self, using: str, update: "CompiledUpdate") -> str:
        quote = connections[using].ops.quote_name
        new_pk = f"{quote('new_row')}.{quote(self.model._meta.pk.column)}"
        table, target_pk = quote(update.model._meta.db_table), quote(update.model._meta.pk.column)
        first, *sets = update.sets(quote, qualified=True)
        sets.insert(0, first.replace("%s", new_pk))
        sql = (f"WITH {quote('new_row')} AS ({self._insert_sql(using)} RETURNING {quote(self.model._meta.pk.column)}) "
               f"UPDATE {table} SET {', '.join(sets)} FROM {quote('new_row')} WHERE {table}.{target_pk} = %s "
               f"RETURNING {new_pk}")
        self._sql[(using, update)] = sql
        return sql

    def _insert_sql(self, using: str) -> str:
        quote, meta = connections[using].ops.quote_name, self.model._meta
        return (f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in self._fields)}) "
                f"VALUES ({', '.join(['%s'] * len(self._fields))})")

    def _write_sql(self, using: str) -> str:
        connection = connections[using]
        sql = self._insert_sql(using)
        if connection.features.can_return_columns_from_insert:
            sql += f" RETURNING {connection.ops.quote_name(self.model._meta.pk.column)}"
        self._sql[using] = sql
        return sql


class CompiledUpdate:
    """``UPDATE <model> SET <field> = %s…, <counter> = <counter> + %s… WHERE <pk> = %s``, one
    shape (which fields, which counters) per instance, the SQL written once per process. As
    ``QuerySet.update``: no ``auto_now`` stamping (pass those fields' values), no signals."""

    def __init__(self, model, fields: tuple[str, ...], counters: tuple[str, ...] = ()):
        meta = model._meta
        self.model = model
        self._fields = [meta.get_field(name) for name in fields]
        self._counters = [meta.get_field(name) for name in counters]
        self._plains = [_plain_types(f) for f in self._fields]
        self._sql: dict[str, str] = {}

    def update(self, pk, values: list, increments: list = ()) -> int:
        """Set the fields to ``values`` and add ``increments`` to the counters (both in the
        order given to the constructor) on row ``pk``; returns the number of rows changed."""
        using = router.db_for_write(self.model)
        connection = connections[using]
        sql = self._sql.get(using) or self._write_sql(using)
        with connection.cursor() as cursor:
            cursor.execute(sql, self.params(connection, pk, values, increments))
            return cursor.rowcount

    def params(self, connection, pk, values: list, increments: list) -> list:
        return _prepared(self._fields, self._plains, values, connection) + list(increments) + [pk]

    def sets(self, quote, *, qualified: bool = False) -> list[str]:
        """The SET clauses, one ``%s`` each, fields then counters."""
        table = f"{quote(self.model._meta.db_table)}." if qualified else ""
        return ([f"{quote(f.column)} = %s" for f in self._fields]
                + [f"{quote(f.column)} = {table}{quote(f.column)} + %s" for f in self._counters])

    def _write_sql(self, using: str) -> str:
        quote, meta = connections[using].ops.quote_name, self.model._meta
        sql = f"UPDATE {quote(meta.db_table)} SET {', '.join(self.sets(quote))} WHERE {quote(meta.pk.column)} = %s"
        self._sql[using] = sql
        return sql
