"""fiko.postgresql: Django's PostgreSQL backend with timestamps parsed by psycopg's C loader.
The ORM must read exactly what Django's own loader reads: aware datetimes in Django's time zone
(UTC), to the microsecond, whatever the session's offsets in the text."""
import datetime

import pytest
from django.db import connection, connections

from conversations.models import Message
from conversations.services import message_send

pytestmark = pytest.mark.django_db

UTC = datetime.timezone.utc


def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the backend is PostgreSQL's; SQLite keeps Django's own")


def test_the_settings_use_the_backend_and_timestamps_are_parsed_in_c():
    _postgresql_only()
    from psycopg import pq

    from fiko.postgresql.base import DatabaseWrapper

    assert isinstance(connections["default"], DatabaseWrapper)
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(1184, pq.Format.TEXT)  # timestamptz
    assert loader.__module__ == "fiko.postgresql.base" and loader.timezone is UTC


@pytest.mark.parametrize("stored", [
    datetime.datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),
    datetime.datetime(1999, 12, 31, 23, 0, 0, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=-5, minutes=-30))),
    datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=3, minutes=30))),
])
def test_timestamps_read_back_as_the_same_instant_in_utc(conversation, staff, stored):
    _postgresql_only()
    message, _ = message_send(conversation=conversation, user=staff, content="when")
    Message.objects.filter(pk=message.pk).update(created_at=stored)
    read = Message.objects.get(pk=message.pk).created_at
    assert read == stored and read.tzinfo is UTC and read.microsecond == stored.microsecond
    assert Message.objects.filter(pk=message.pk).values_list("created_at", flat=True).get() == stored
    with connection.cursor() as cursor:  # whatever the session's time zone says, the instant is the same
        cursor.execute("SELECT %s::timestamptz", [stored])
        assert cursor.fetchone()[0] == stored
