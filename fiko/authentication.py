"""DRF authentication: staff and customer JWTs, each refusing the other kind."""
from rest_framework import authentication, exceptions

from fiko.tokens import CUSTOMER, STAFF, InvalidCredentials, principal_from_access_token


class _BearerAuthentication(authentication.BaseAuthentication):
    kind: str

    def authenticate_header(self, request):
        return 'Bearer realm="api"'

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            principal = principal_from_access_token(header[1].decode("latin-1"))
        except InvalidCredentials:
            raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid")
        if principal.kind != self.kind:
            raise exceptions.AuthenticationFailed(f"A {self.kind} token is required here.", code="wrong_token_kind")
        return self.principal_to_user(principal), principal


class StaffJWTAuthentication(_BearerAuthentication):
    kind = STAFF

    def principal_to_user(self, principal):
        return principal.user


class CustomerUser:
    """request.user for a customer token: authenticated, never staff."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_superuser = False

    def __init__(self, customer):
        self.customer = customer
        self.pk = self.id = customer.pk


class CustomerJWTAuthentication(_BearerAuthentication):
    kind = CUSTOMER

    def principal_to_user(self, principal):
        return CustomerUser(principal.customer)


class StaffOrCustomerJWTAuthentication(_BearerAuthentication):
    """Either kind (endpoints both sides use, e.g. seed 004's message history and uploads):
    ``request.user`` is the staff User or a CustomerUser; the view tells them apart."""

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Authorization header must be 'Bearer <token>'.")
        try:
            principal = principal_from_access_token(header[1].decode("latin-1"))
        except InvalidCredentials:
            raise exceptions.AuthenticationFailed("Token is invalid or expired.", code="token_not_valid")
        user = principal.user if principal.kind == STAFF else CustomerUser(principal.customer)
        return user, principal
