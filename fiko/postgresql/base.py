"""Django's PostgreSQL backend, with timestamps read by psycopg's C loader.

Django (5.2, psycopg 3) registers its own ``timestamptz`` loader on every connection: a
subclass of psycopg's pure-Python ``TimestamptzLoader`` that replaces the value's tzinfo with
the connection's time zone. It shadows psycopg's C loader, so every timestamp read parses its
text with a regular expression in Python. On the chat handshake (51 message rows and their read
markers) that was a third of the handshake's CPU: 15 µs per value, 0.8 ms per handshake
(cProfile, bench/RESULTS.md). Here the same loader (the same ``timezone`` and the same
``replace``) parses with psycopg's own loader instead, which is C with ``psycopg[binary]``.
Everything else is Django's backend unchanged.
"""
from functools import lru_cache

import psycopg
from django.db.backends.postgresql import base
from psycopg import adapt
from psycopg.pq import Format

# psycopg's own timestamptz loader, as it registers it: its C loader with psycopg[binary] (the
# pure-Python one otherwise, which makes this backend merely equal to Django's).
_PSYCOPG_LOADER = psycopg.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, Format.TEXT)


@lru_cache
def tz_loader_class(timezone):
    """Django's ``SpecificTzLoader`` for ``timezone`` (the same ``timezone`` attribute, the same
    ``replace``), parsing with psycopg's own loader (its C loader cannot be subclassed)."""

    class CTzLoader(adapt.Loader):
        def __init__(self, oid, context=None):
            super().__init__(oid, context)
            self._parse = _PSYCOPG_LOADER(oid, context).load

        def load(self, data):
            return self._parse(data).replace(tzinfo=self.timezone)

    CTzLoader.timezone = timezone  # create_cursor compares it with the connection's, as Django's
    return CTzLoader


@lru_cache
def adapters_with_c_tz_loader(template, timezone):
    """A copy of Django's adapters map for new connections with the C loader registered."""
    adapters = adapt.AdaptersMap(template)
    adapters.register_loader("timestamptz", tz_loader_class(timezone))
    return adapters


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self):
        params = super().get_connection_params()
        if "context" in params:
            params["context"] = adapters_with_c_tz_loader(params["context"], self.timezone)
        return params
