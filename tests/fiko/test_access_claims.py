"""A checked access token is remembered until it expires (fiko.tokens.access_claims): a
client's sockets and reconnects bring the same token again and again. What is remembered must
never outlive the token's expiry."""
import pytest
from rest_framework_simplejwt import tokens as simplejwt_tokens
from rest_framework_simplejwt.utils import aware_utcnow

from fiko import tokens
from fiko.tokens import STAFF, InvalidCredentials, access_claims
from tests.factories import make_user
from tests.fiko.token_helpers import staff_access_token

pytestmark = pytest.mark.django_db


def test_the_same_token_is_checked_once():
    raw = staff_access_token(make_user("claims-once"), seconds=300)
    first = access_claims(raw)
    assert first.kind == STAFF
    assert access_claims(raw) is first  # remembered, not decoded again


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch):
    user = make_user("claims-expiry")
    raw = staff_access_token(user, seconds=300)
    claims = access_claims(raw)
    later = claims.expires_at + 1
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    monkeypatch.setattr(simplejwt_tokens, "aware_utcnow",
                        lambda: aware_utcnow().fromtimestamp(later, tz=aware_utcnow().tzinfo))
    with pytest.raises(InvalidCredentials):
        access_claims(raw)

