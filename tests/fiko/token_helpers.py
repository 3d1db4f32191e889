"""Tokens with a chosen lifetime (expired, or about to expire), made like the real ones."""
from datetime import timedelta

from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from fiko.tokens import CUSTOMER, KIND_CLAIM, STAFF


def staff_access_token(user, *, seconds: float) -> str:
    refresh = RefreshToken.for_user(user)
    refresh[KIND_CLAIM] = STAFF
    access = refresh.access_token
    access.set_exp(lifetime=timedelta(seconds=seconds))
    return str(access)


def customer_access_token(customer, *, seconds: float) -> str:
    refresh = RefreshToken()
    refresh[KIND_CLAIM] = CUSTOMER
    refresh["customer_id"] = customer.pk
    refresh["workspace_id"] = customer.workspace_id
    access = refresh.access_token
    access.set_exp(lifetime=timedelta(seconds=seconds))
    return str(access)


def claims(raw: str) -> dict:
    return dict(AccessToken(raw).payload)
