"""OpenAPI (drf-spectacular) security schemes for our DRF authentication classes.

Imported once at start-up (chat.apps.ChatConfig.ready) so every view's schema names the
token it needs: ``staffJWT`` or ``customerJWT`` (both ``Authorization: Bearer <access>``,
told apart by the token's ``kind`` claim), or ``staffOrCustomerJWT`` (either).
"""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


def _bearer(description: str) -> dict:
    return {**build_bearer_security_scheme_object("Authorization", "Bearer", "JWT"), "description": description}


STAFF_SCHEME = _bearer("Staff access token (POST /api/auth/token/ or /api/v1/auth/login).")
CUSTOMER_SCHEME = _bearer("Customer access token (POST /api/v1/customer-auth/login or /register).")


class StaffJWTScheme(OpenApiAuthenticationExtension):
    target_class = "fiko.authentication.StaffJWTAuthentication"
    name = "staffJWT"

    def get_security_definition(self, auto_schema):
        return STAFF_SCHEME


class CustomerJWTScheme(OpenApiAuthenticationExtension):
    target_class = "fiko.authentication.CustomerJWTAuthentication"
    name = "customerJWT"

    def get_security_definition(self, auto_schema):
        return CUSTOMER_SCHEME


class StaffOrCustomerJWTScheme(OpenApiAuthenticationExtension):
    target_class = "fiko.authentication.StaffOrCustomerJWTAuthentication"
    name = "staffOrCustomerJWT"

    def get_security_definition(self, auto_schema):
        return _bearer("A staff or a customer access token; the answer depends on whose it is.")
