"""JWT kinds. A staff token and a customer token are never accepted in each other's place.

Staff tokens are simplejwt tokens for a Django user with ``kind = "staff"``; customer tokens
carry ``customer_id``, ``workspace_id`` and ``kind = "customer"`` and no ``user_id``.
"""
import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

KIND_CLAIM = "kind"
STAFF = "staff"
CUSTOMER = "customer"


def staff_tokens_for(user) -> dict:
    refresh = RefreshToken.for_user(user)
    refresh[KIND_CLAIM] = STAFF
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def customer_tokens_for(customer) -> dict:
    refresh = RefreshToken()
    refresh[KIND_CLAIM] = CUSTOMER
    refresh["customer_id"] = customer.pk
    refresh["workspace_id"] = customer.workspace_id
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


@dataclass(frozen=True)
class Principal:
    """Who a verified access token speaks for."""

    kind: str
    user: object | None = None
    customer: object | None = None
    expires_at: int | None = None  # unix seconds


@dataclass(frozen=True)
class AccessClaims:
    """What a signature- and expiry-checked access token claims; nothing is loaded yet."""

    kind: str
    user_id: object = None  # as written in the token: checked against the database by the loader
    customer_id: object = None
    workspace_id: object = None
    expires_at: int | None = None


class ClaimedUser:
    """A staff principal's user before the database has confirmed it: only ``pk``. Used by a
    consumer that checks the user in the same query that loads what it needs
    (``verifies_principal``, see fiko/ws_auth.py); any other attribute is an AttributeError, so
    an unchecked user cannot pass for a loaded one."""

    __slots__ = ("pk",)
    is_authenticated = True

    def __init__(self, pk):
        """``pk`` as the token carries it (simplejwt writes it as a string); kept as the user
        model's primary-key type. Raises InvalidCredentials when it cannot be one."""
        from django.core.exceptions import ValidationError

        try:
            self.pk = get_user_model()._meta.pk.to_python(pk)
        except ValidationError:
            raise InvalidCredentials("user id is not an id") from None
        if self.pk is None:
            raise InvalidCredentials("no user id")


class InvalidCredentials(Exception):
    pass


def access_claims(raw: str) -> AccessClaims:
    """Signature, expiry, token type and kind: no query. Raises InvalidCredentials.

    A token that checked out is remembered until it expires (by its text; the signing key
    changes only with a restart): what it claims cannot change, and a client's sockets and reconnects bring
    the same token again and again (W3: the signature check was a twentieth of a handshake).
    Only the check is remembered; whoever the token names is still loaded and checked."""
    claims = _checked.get(raw)
    if claims is not None and claims.expires_at > time.time():
        return claims
    claims = _check(raw)
    if claims.expires_at is not None:
        if len(_checked) >= CHECKED_TOKENS_KEPT:
            _checked.clear()
        _checked[raw] = claims
    return claims


CHECKED_TOKENS_KEPT = 10_000
_checked: dict[str, AccessClaims] = {}


def _check(raw: str) -> AccessClaims:
    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise InvalidCredentials(str(exc)) from None
    kind = token.get(KIND_CLAIM)
    if kind == STAFF:
        return AccessClaims(kind=STAFF, user_id=token.get("user_id"), expires_at=token.get("exp"))
    if kind == CUSTOMER:
        return AccessClaims(kind=CUSTOMER, customer_id=token.get("customer_id"),
                            workspace_id=token.get("workspace_id"), expires_at=token.get("exp"))
    raise InvalidCredentials("unknown token kind")


def principal_from_claims(claims: AccessClaims) -> Principal:
    """Load the (active) user or the customer the claims name: one query. Raises InvalidCredentials."""
    from customers.models import Customer

    if claims.kind == STAFF:
        user = get_user_model().objects.filter(pk=claims.user_id, is_active=True).first()
        if user is None:
            raise InvalidCredentials("user not found")
        return Principal(kind=STAFF, user=user, expires_at=claims.expires_at)
    customer = Customer.objects.filter(pk=claims.customer_id, workspace_id=claims.workspace_id).first()
    if customer is None:
        raise InvalidCredentials("customer not found")
    return Principal(kind=CUSTOMER, customer=customer, expires_at=claims.expires_at)


def principal_from_access_token(raw: str) -> Principal:
    """Verify signature/expiry and load the user or customer. Raises InvalidCredentials."""
    return principal_from_claims(access_claims(raw))


def tokens_refresh(raw: str) -> dict:
    """``{"access": ...}`` from a refresh token, keeping its kind (and customer claims).
    Raises InvalidCredentials when the token is bad, expired or not a refresh token, or when
    its user may no longer sign in (deleted, inactive, no workspace) or its customer is gone."""
    from customers.models import Customer
    from fiko.staff_accounts import staff_may_sign_in

    try:
        refresh = RefreshToken(raw)
    except TokenError as exc:
        raise InvalidCredentials(str(exc)) from None
    kind = refresh.get(KIND_CLAIM)
    if kind == STAFF:
        user = get_user_model().objects.filter(pk=refresh.get("user_id")).first()
        if user is None or not staff_may_sign_in(user):
            raise InvalidCredentials("user not found or not allowed to sign in")
    elif kind == CUSTOMER:
        if not Customer.objects.filter(pk=refresh.get("customer_id"), workspace_id=refresh.get("workspace_id")).exists():
            raise InvalidCredentials("customer not found")
    else:
        raise InvalidCredentials("unknown token kind")
    return {"access": str(refresh.access_token)}
