"""DRF authentication: staff and customer JWTs, each refusing the other kind."""
from rest_framework import authentication, exceptions

from fiko.tokens import CUSTOMER, STAFF, InvalidCredentials, principal_from_access_token


class _BearerAuthentication(authentication.BaseAuthentication):
    kinds: frozenset[str]  # token kinds this endpoint accepts

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
        if principal.kind not in self.kinds:
            wanted = " or ".join(sorted(self.kinds))
            raise exceptions.AuthenticationFailed(f"A {wanted} token is required here.", code="wrong_token_kind")
        user = principal.user if principal.kind == STAFF else CustomerUser(principal.customer)
        return user, principal


class StaffJWTAuthentication(_BearerAuthentication):
    kinds = frozenset({STAFF})


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
    kinds = frozenset({CUSTOMER})


class StaffOrCustomerJWTAuthentication(_BearerAuthentication):
    """Either kind (endpoints both sides use, e.g. seed 004's message history and uploads):
    ``request.user`` is the staff User or a CustomerUser; the view tells them apart."""

    kinds = frozenset({STAFF, CUSTOMER})
