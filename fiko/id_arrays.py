"""A sorted list of ids stored on a row, for filters that would otherwise join through links
(Customer.tag_ids, Conversation.customer_tag_ids): ``integer[]`` on PostgreSQL, where a GIN index
answers ``ids__overlap=[...]`` and the planner estimates it from the column's element statistics;
JSON text elsewhere (stored the same, not read by any filter there)."""
import json

from django.db import models
from django.db.models import Lookup

from fiko.inputs import INT_MAX


class IdArrayField(models.Field):
    """Sorted, distinct ids: ``integer[]`` on PostgreSQL, JSON text elsewhere."""

    def db_type(self, connection):
        return "integer[]" if connection.vendor == "postgresql" else "text"

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, list):
            return value
        return json.loads(value)

    def to_python(self, value):
        return json.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value):
        return None if value is None else sorted({int(v) for v in value})

    def get_db_prep_value(self, value, connection, prepared=False):
        value = value if prepared else self.get_prep_value(value)
        if value is None or connection.vendor == "postgresql":
            return value
        return json.dumps(value)


@IdArrayField.register_lookup
class Overlap(Lookup):
    """``ids__overlap=[...]``: the list shares an id with the given ones (PostgreSQL ``&&``). An id
    past ``integer``'s range is in no list (it is dropped, not cast: a filter by a huge id finds
    nothing instead of failing)."""

    lookup_name = "overlap"

    def get_prep_lookup(self):
        if isinstance(self.rhs, (list, tuple, set)):
            return self.lhs.output_field.get_prep_value([v for v in self.rhs if 0 <= int(v) <= INT_MAX])
        return super().get_prep_lookup()

    def as_sql(self, compiler, connection):
        if connection.vendor != "postgresql":
            raise NotImplementedError("overlap is read on PostgreSQL only")
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} && {rhs}::integer[]", [*lhs_params, *rhs_params]
