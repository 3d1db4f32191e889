"""Access ends when it is revoked (SPEC, "Socket close codes": error ``forbidden``, then 1008,
within 5 s, on every process).

REST refuses at once without help: every request loads the token's user (active only) or
customer, and every read is scoped by workspace membership. An open socket checked its access
once, at the handshake, so here the writes that take access away tell that principal's sockets:
a user deactivated or deleted, a workspace membership removed (an owner revoking an agent, or
any other way), a customer (with their web-chat account) deleted. Each publishes
``access.revoked`` to the principal's group (``realtime.principal_group``), which every socket
joins before it checks access (fiko/consumers.py), after the write commits.

These are model signals on purpose, and this is the only place they are used: the admin, the
shell, a cascade and any future service all revoke the same way, and none can forget to.
(``QuerySet.update(is_active=False)`` sends no signal: deactivate users with ``save()``.)
"""
from django.conf import settings
from django.db.models.signals import post_delete, post_save

from fiko import realtime
from fiko.participants import CUSTOMER, USER, Participant


def _revoke(participant: Participant, workspace_id: int | None = None) -> None:
    realtime.publish_on_commit([realtime.principal_group(participant)], {
        "type": realtime.ACCESS_REVOKED, "participant": participant.key, "workspace_id": workspace_id,
    })


def _user_saved(sender, instance, created, update_fields=None, **kwargs):
    if created or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return  # e.g. last_login of an already inactive user: nothing changed
    _revoke(Participant(USER, instance.pk))


def _user_deleted(sender, instance, **kwargs):
    _revoke(Participant(USER, instance.pk))


def _membership_deleted(sender, instance, **kwargs):
    _revoke(Participant(USER, instance.user_id), instance.workspace_id)


def _customer_deleted(sender, instance, **kwargs):
    _revoke(Participant(CUSTOMER, instance.pk))


def connect_signals() -> None:
    """Called once, from WorkspacesConfig.ready()."""
    uid = "fiko.access_revocation"
    post_save.connect(_user_saved, sender=settings.AUTH_USER_MODEL, dispatch_uid=f"{uid}.user_saved")
    post_delete.connect(_user_deleted, sender=settings.AUTH_USER_MODEL, dispatch_uid=f"{uid}.user_deleted")
    post_delete.connect(_membership_deleted, sender="workspaces.Membership", dispatch_uid=f"{uid}.membership")
    post_delete.connect(_customer_deleted, sender="customers.Customer", dispatch_uid=f"{uid}.customer")
