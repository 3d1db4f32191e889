"""Web-chat customer accounts (seed 004): sign-up and sign-in by phone or email per workspace.

An account is a Customer (source ``web``, created through customer_create_for_web so
``customer.created`` reaches the workspace's staff) plus a CustomerAccount holding the login
(email and/or phone, unique per workspace) and the hashed password. Emails are compared
lower-cased; phones without spaces, dashes, dots or brackets, with Persian/Arabic digits
read as ASCII, so "+98 912-000 0000" and "+989120000000" are the same login.
"""
import re

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer, CustomerAccount
from customers.services import customer_create_for_web
from fiko.errors import ErrorCode, FikoError, InvalidInput, NotFound
from fiko.login_throttle import login_check_allowed, login_record_failure, login_record_success
from workspaces.selectors import workspace_get_by_ref

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")
_PHONE = re.compile(r"^\+?\d{5,20}$")
_DIGITS = str.maketrans({**{chr(0x06F0 + i): str(i) for i in range(10)}, **{chr(0x0660 + i): str(i) for i in range(10)}})


class InvalidCustomerLogin(FikoError):
    def __init__(self, text: str):
        super().__init__(ErrorCode.INVALID_CREDENTIALS, text)


def _text(value, field: str, *, max_length: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string", field=field)
    value = value.strip()
    if "\x00" in value:  # PostgreSQL text cannot hold it: refuse it here, not with a 500
        raise InvalidInput(f"{field} contains a NUL character", field=field)
    if required and not value:
        raise InvalidInput(f"{field} is required", field=field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field=field)
    return value


def normalize_email(value) -> str:
    email = _text(value, "email", max_length=254).lower()
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise InvalidInput("email is not a valid email address", field="email") from None
    return email


def normalize_phone(value) -> str:
    phone = _PHONE_SEPARATORS.sub("", _text(value, "phone", max_length=32).translate(_DIGITS))
    if phone and not _PHONE.match(phone):
        raise InvalidInput("phone must be 5 to 20 digits, optionally starting with +", field="phone")
    return phone


def _password(value) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput("password is required", field="password")
    if not MIN_PASSWORD_LENGTH <= len(value) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(
            f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters", field="password"
        )
    return value


def _workspace(ref):
    if ref is None or ref == "" or isinstance(ref, bool) or not isinstance(ref, (int, str)):
        raise InvalidInput("workspace (id or slug) is required", field="workspace")
    if isinstance(ref, str):
        _text(ref, "workspace", max_length=64, required=True)  # checked, not trimmed: " 29" names no workspace
    workspace = workspace_get_by_ref(ref)
    if workspace is None:
        raise NotFound("Workspace not found")
    return workspace


def _login(email, phone) -> tuple[str, str]:
    email, phone = normalize_email(email), normalize_phone(phone)
    if not email and not phone:
        raise InvalidInput("phone or email is required", field="phone")
    return email, phone


def customer_register(*, workspace, first_name, last_name=None, email=None, phone=None, password) -> Customer:
    """Create a web customer and its login. Duplicate email/phone in the workspace -> 400."""
    workspace = _workspace(workspace)
    first_name = _text(first_name, "first_name", max_length=150, required=True)
    last_name = _text(last_name, "last_name", max_length=150)
    email, phone = _login(email, phone)
    account = CustomerAccount(workspace=workspace, email=email, phone=phone)
    account.set_password(_password(password))  # hash outside the transaction
    taken = _taken_logins(workspace=workspace, email=email, phone=phone)
    if taken:
        raise InvalidInput(f"An account with this {taken} already exists in this workspace", field=taken)
    try:
        with transaction.atomic():
            customer = customer_create_for_web(
                workspace=workspace, first_name=first_name, last_name=last_name, email=email, phone=phone
            )
            account.customer = customer
            account.save()
    except IntegrityError:  # a concurrent sign-up took the login first: nothing was kept
        taken = _taken_logins(workspace=workspace, email=email, phone=phone) or "email or phone"
        raise InvalidInput(f"An account with this {taken} already exists in this workspace", field=taken) from None
    return customer


def _taken_logins(*, workspace, email: str, phone: str) -> str | None:
    accounts = CustomerAccount.objects.filter(workspace=workspace)
    if email and accounts.filter(email=email).exists():
        return "email"
    if phone and accounts.filter(phone=phone).exists():
        return "phone"
    return None


def customer_authenticate(*, workspace, email=None, phone=None, password, ip: str | None) -> Customer:
    """The customer these credentials belong to, or InvalidCustomerLogin (401) /
    LoginThrottled (429). ``email`` wins when both are given."""
    workspace = _workspace(workspace)
    email, phone = _login(email, phone)
    if not isinstance(password, str) or not password:
        raise InvalidInput("password is required", field="password")
    if len(password) > 4096:
        raise InvalidInput("password is longer than 4096 characters", field="password")
    lookup = {"email": email} if email else {"phone": phone}
    account = CustomerAccount.objects.filter(workspace=workspace, **lookup).select_related("customer").first()
    account_key = f"customer:{account.pk}" if account else f"customer:{workspace.pk}:{email or phone}"
    login_check_allowed(account_key=account_key, ip=ip)
    if account is None:
        make_password(password)  # same hashing time as a real account
        ok = False
    else:
        ok = account.check_password(password)
    if not ok:
        login_record_failure(account_key=account_key, ip=ip)
        raise InvalidCustomerLogin(f"Invalid {'email' if email else 'phone'} or password")
    login_record_success(account_key=account_key)
    CustomerAccount.objects.filter(pk=account.pk).update(last_login=timezone.now())
    return account.customer
