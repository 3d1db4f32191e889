"""Sign-in endpoints (SPEC.md, "Authentication"). Seed 004 paths work with or without a
trailing slash."""
from django.urls import path, re_path

from fiko import auth_api

urlpatterns = [
    path("api/auth/token/", auth_api.StaffTokenView.as_view(), name="token_obtain"),
    path("api/auth/token/refresh/", auth_api.TokenRefreshView.as_view(), name="token_refresh"),
    re_path(r"^api/v1/auth/login/?$", auth_api.StaffLoginView.as_view(), name="staff_login"),
    re_path(r"^api/v1/auth/refresh/?$", auth_api.TokenRefreshView.as_view(), name="v1_token_refresh"),
    re_path(r"^api/v1/auth/me/?$", auth_api.MeView.as_view(), name="auth_me"),
    re_path(r"^api/v1/customer-auth/register/?$", auth_api.CustomerRegisterView.as_view(), name="customer_register"),
    re_path(r"^api/v1/customer-auth/login/?$", auth_api.CustomerLoginView.as_view(), name="customer_login"),
    re_path(r"^api/v1/customer-auth/refresh/?$", auth_api.TokenRefreshView.as_view(), name="customer_token_refresh"),
]
