"""JWT kinds. A staff token and a customer token are never accepted in each other's place.

Staff tokens are simplejwt tokens for a Django user with ``kind = "staff"``; customer tokens
carry ``customer_id``, ``workspace_id`` and ``kind = "customer"`` and no ``user_id``.
"""
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


class InvalidCredentials(Exception):
    pass


def principal_from_access_token(raw: str) -> Principal:
    """Verify signature/expiry and load the user or customer. Raises InvalidCredentials."""
    from customers.models import Customer

    try:
        token = AccessToken(raw)
    except TokenError as exc:
        raise InvalidCredentials(str(exc)) from None
    kind = token.get(KIND_CLAIM)
    exp = token.get("exp")
    if kind == STAFF:
        user = get_user_model().objects.filter(pk=token.get("user_id"), is_active=True).first()
        if user is None:
            raise InvalidCredentials("user not found")
        return Principal(kind=STAFF, user=user, expires_at=exp)
    if kind == CUSTOMER:
        customer = Customer.objects.filter(pk=token.get("customer_id"), workspace_id=token.get("workspace_id")).first()
        if customer is None:
            raise InvalidCredentials("customer not found")
        return Principal(kind=CUSTOMER, customer=customer, expires_at=exp)
    raise InvalidCredentials("unknown token kind")


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
