"""Sign-in endpoints: staff tokens (simplejwt shape and seed 004 shape), token refresh,
web-chat customer sign-up/sign-in, and ``GET /api/v1/auth/me``.

Thin views: read the fields, call one service, render. Errors are FikoErrors rendered by
fiko.api_errors: ``{"detail": <reason>, "code": ...}`` with 400 (bad input), 401 (wrong
credentials, bad refresh token), 403 (staff user without a workspace), 404 (unknown
workspace), 429 + ``Retry-After`` (login throttle, fiko/login_throttle.py).
"""
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.accounts import customer_authenticate, customer_register
from fiko.errors import ErrorCode, FikoError, InvalidInput
from fiko.inputs import check_text
from fiko.login_throttle import client_ip
from fiko.staff_accounts import staff_authenticate, staff_profile
from fiko.tokens import InvalidCredentials, customer_tokens_for, staff_tokens_for, tokens_refresh


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise InvalidInput("Request body must be a JSON object")
    return request.data


MAX_LENGTHS = {"username": 254, "email": 254, "password": 4096, "refresh": 4096}  # 4096: Django's hashers


def _checked(value: str, field: str) -> str:
    limit = MAX_LENGTHS[field]
    if len(value) > limit:
        raise InvalidInput(f"{field} is longer than {limit} characters", field=field)
    return check_text(value, field)  # no NUL / lone surrogate: a 400, not a 500 at the database


def _required(data: dict, field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{field} is required", field=field)
    return _checked(value.strip() if field != "password" else value, field)


def _optional(data: dict, field: str) -> str | None:
    value = data.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    return _checked(value.strip(), field) or None


def _seed004_tokens(tokens: dict) -> dict:
    """Seed 004 names plus the simplejwt names, for the same pair."""
    return {
        "access_token": tokens["access"],
        "refresh_token": tokens["refresh"],
        "token_type": "bearer",
        "access": tokens["access"],
        "refresh": tokens["refresh"],
    }


def _customer_tokens(customer) -> dict:
    return {
        **_seed004_tokens(customer_tokens_for(customer)),
        "customer": {
            "id": customer.pk,
            "first_name": customer.first_name,
            "last_name": customer.last_name,
            "email": customer.email,
            "phone": customer.phone,
        },
    }


_ERROR = inline_serializer("AuthError", {"detail": serializers.CharField(), "code": serializers.CharField()})
_PAIR = inline_serializer("TokenPair", {"access": serializers.CharField(), "refresh": serializers.CharField()})
_SEED004_PAIR = inline_serializer(
    "LoginTokens",
    {
        "access_token": serializers.CharField(), "refresh_token": serializers.CharField(),
        "token_type": serializers.CharField(), "access": serializers.CharField(), "refresh": serializers.CharField(),
    },
)
_CUSTOMER_TOKENS = inline_serializer(
    "CustomerTokens",
    {
        "access_token": serializers.CharField(), "refresh_token": serializers.CharField(),
        "token_type": serializers.CharField(), "access": serializers.CharField(), "refresh": serializers.CharField(),
        "customer": inline_serializer(
            "CustomerAccountOut",
            {"id": serializers.IntegerField(), "first_name": serializers.CharField(), "last_name": serializers.CharField(),
             "email": serializers.CharField(), "phone": serializers.CharField()},
        ),
    },
)
_LOGIN_ERRORS = {400: _ERROR, 401: _ERROR, 429: OpenApiResponse(_ERROR, description="Too many failed logins; see Retry-After")}


class _PublicView(APIView):
    # No authentication: a stale or foreign ``Authorization`` header must not block signing in.
    authentication_classes: list = []
    permission_classes = [AllowAny]


class StaffTokenView(_PublicView):
    """Staff sign-in, simplejwt shape. 5 failed logins a minute per account or IP -> 429."""

    @extend_schema(
        tags=["auth"],
        request=inline_serializer("TokenObtain", {"username": serializers.CharField(), "password": serializers.CharField()}),
        responses={200: _PAIR, 403: _ERROR, **_LOGIN_ERRORS},
    )
    def post(self, request):
        data = _body(request)
        username, password = _required(data, "username"), _required(data, "password")
        user = staff_authenticate(username=username, password=password, ip=client_ip(request))
        return Response(staff_tokens_for(user))


class StaffLoginView(_PublicView):
    """Staff sign-in by username or email, seed 004 shape (plus the simplejwt names)."""

    @extend_schema(
        tags=["auth"],
        request=inline_serializer(
            "StaffLogin",
            {"username": serializers.CharField(required=False), "email": serializers.CharField(required=False),
             "password": serializers.CharField()},
        ),
        responses={200: _SEED004_PAIR, 403: _ERROR, **_LOGIN_ERRORS},
    )
    def post(self, request):
        data = _body(request)
        username, email = _optional(data, "username"), _optional(data, "email")
        if not username and not email:
            raise InvalidInput("username or email is required", field="username")
        password = _required(data, "password")
        user = staff_authenticate(username=username, email=email, password=password, ip=client_ip(request))
        return Response(_seed004_tokens(staff_tokens_for(user)))


class TokenRefreshView(_PublicView):
    """Staff and customer refresh tokens alike; the new access token keeps the kind."""

    @extend_schema(
        tags=["auth"],
        request=inline_serializer("TokenRefresh", {"refresh": serializers.CharField()}),
        responses={200: inline_serializer("TokenRefreshed", {"access": serializers.CharField()}), 400: _ERROR, 401: _ERROR},
    )
    def post(self, request):
        raw = _required(_body(request), "refresh")
        try:
            return Response(tokens_refresh(raw))
        except InvalidCredentials:
            raise FikoError(ErrorCode.INVALID_CREDENTIALS, "Refresh token is invalid or expired") from None


class CustomerRegisterView(_PublicView):
    """Web-chat customer sign-up: phone and/or email (unique per workspace) and a password."""

    @extend_schema(
        tags=["auth"],
        request=inline_serializer(
            "CustomerRegister",
            {"workspace": serializers.CharField(help_text="workspace id or slug"), "first_name": serializers.CharField(),
             "last_name": serializers.CharField(required=False), "phone": serializers.CharField(required=False),
             "email": serializers.CharField(required=False), "password": serializers.CharField()},
        ),
        responses={201: _CUSTOMER_TOKENS, 400: _ERROR, 404: _ERROR},
    )
    def post(self, request):
        data = _body(request)
        customer = customer_register(
            workspace=data.get("workspace"), first_name=data.get("first_name"), last_name=data.get("last_name"),
            email=data.get("email"), phone=data.get("phone"), password=data.get("password"),
        )
        return Response(_customer_tokens(customer), status=status.HTTP_201_CREATED)


class CustomerLoginView(_PublicView):
    """Web-chat customer sign-in. 5 failed logins a minute per account or IP -> 429."""

    @extend_schema(
        tags=["auth"],
        request=inline_serializer(
            "CustomerLogin",
            {"workspace": serializers.CharField(help_text="workspace id or slug"),
             "phone": serializers.CharField(required=False), "email": serializers.CharField(required=False),
             "password": serializers.CharField()},
        ),
        responses={200: _CUSTOMER_TOKENS, 404: _ERROR, **_LOGIN_ERRORS},
    )
    def post(self, request):
        data = _body(request)
        customer = customer_authenticate(
            workspace=data.get("workspace"), email=data.get("email"), phone=data.get("phone"),
            password=data.get("password"), ip=client_ip(request),
        )
        return Response(_customer_tokens(customer))


class MeView(APIView):
    """The signed-in staff user (staff token or session) and their workspaces."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        responses=inline_serializer(
            "Me",
            {"id": serializers.IntegerField(), "username": serializers.CharField(), "email": serializers.CharField(),
             "first_name": serializers.CharField(), "last_name": serializers.CharField(),
             "is_superuser": serializers.BooleanField(),
             "workspaces": inline_serializer(
                 "MeWorkspace",
                 {"id": serializers.IntegerField(), "slug": serializers.CharField(), "name": serializers.CharField(),
                  "role": serializers.CharField()},
                 many=True,
             )},
        )
    )
    def get(self, request):
        return Response(staff_profile(request.user))
