"""Sign-in endpoints (SPEC.md, "Authentication"). simplejwt's paths end in a slash; seed 004's
do not (as the seed writes them, like chat/urls.py)."""
from django.urls import path

from fiko import auth_api

urlpatterns = [
    path("api/auth/token/", auth_api.StaffTokenView.as_view(), name="token_obtain"),
    path("api/auth/token/refresh/", auth_api.TokenRefreshView.as_view(), name="token_refresh"),
    path("api/v1/auth/login", auth_api.StaffLoginView.as_view(), name="staff_login"),
    path("api/v1/auth/refresh", auth_api.TokenRefreshView.as_view(), name="v1_token_refresh"),
    path("api/v1/auth/me", auth_api.MeView.as_view(), name="auth_me"),
    path("api/v1/customer-auth/register", auth_api.CustomerRegisterView.as_view(), name="customer_register"),
    path("api/v1/customer-auth/login", auth_api.CustomerLoginView.as_view(), name="customer_login"),
    path("api/v1/customer-auth/refresh", auth_api.TokenRefreshView.as_view(), name="customer_token_refresh"),
]
