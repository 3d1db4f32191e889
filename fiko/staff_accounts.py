"""Staff sign-in (``/api/auth/token/``, ``/api/v1/auth/login``) and ``/api/v1/auth/me``.

Who gets a staff token: an active user who is a member of at least one workspace, or a
superuser (who manages workspaces through the admin). A user without a workspace could see
nothing anyway, and refusing them a token keeps stray accounts (created in the admin and
never assigned, or removed from their last workspace) from holding API and socket
credentials. Refreshing a staff token checks the same rule (fiko.tokens.tokens_refresh).
"""
from django.contrib.auth import authenticate, get_user_model

from fiko.errors import ErrorCode, FikoError, Forbidden
from fiko.login_throttle import login_check_allowed, login_record_failure, login_record_success
from workspaces.models import Membership


class InvalidLogin(FikoError):
    def __init__(self, text: str = "Invalid username or password"):
        super().__init__(ErrorCode.INVALID_CREDENTIALS, text)


def staff_may_sign_in(user) -> bool:
    return bool(user.is_active) and (user.is_superuser or Membership.objects.filter(user=user).exists())


def _candidates(*, username: str | None, email: str | None) -> list:
    users = get_user_model().objects.all()
    if username:
        return list(users.filter(**{get_user_model().USERNAME_FIELD: username})[:1])
    return list(users.filter(email__iexact=email).order_by("pk")[:5])


def staff_authenticate(*, username: str | None = None, email: str | None = None, password: str, ip: str | None):
    """The user these credentials belong to, or InvalidLogin (401) / LoginThrottled (429) /
    Forbidden (403: right password, but no workspace). ``username`` wins over ``email``."""
    identifier = username or email
    candidates = _candidates(username=username, email=email)
    # Throttle per real account when the identifier names exactly one; else per identifier.
    account_key = f"staff:{candidates[0].pk}" if len(candidates) == 1 else f"staff:{identifier.casefold()}"
    login_check_allowed(account_key=account_key, ip=ip)
    user = None
    for candidate in candidates:
        user = authenticate(username=candidate.get_username(), password=password)
        if user is not None:
            break
    if not candidates:
        authenticate(username=identifier, password=password)  # same hashing time as a real user
    if user is None:
        login_record_failure(account_key=account_key, ip=ip)
        raise InvalidLogin("Invalid username or password" if username else "Invalid email or password")
    login_record_success(account_key=account_key)
    if not staff_may_sign_in(user):
        raise Forbidden("This account is not a member of any workspace")
    return user


def staff_profile(user) -> dict:
    """``GET /api/v1/auth/me``: the signed-in staff user and their workspaces (one query)."""
    memberships = Membership.objects.filter(user=user).select_related("workspace").order_by("workspace_id")
    return {
        "id": user.pk,
        "username": user.get_username(),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_superuser": user.is_superuser,
        "workspaces": [
            {"id": m.workspace_id, "slug": m.workspace.slug, "name": m.workspace.name, "role": m.role}
            for m in memberships
        ],
    }
