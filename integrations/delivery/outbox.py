"""The durable outbox: a staff message in a platform conversation is stored ``pending`` with
``next_attempt_at`` (conversations.services.message_send); that row is the job.

- Claim: one due row at a time, ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite's
  IMMEDIATE transactions serialize claimers instead), skipping rows with an older pending message
  in the same conversation (messages leave in order). The claim counts the attempt and moves
  ``next_attempt_at`` a lease ahead, so a worker that dies mid-send leaves a row that becomes
  due again by itself.
- The lease (``lease_seconds``): on PostgreSQL the claimer also holds a session advisory lock on
  the row for as long as it sends and records, and a claim skips a row whose lock is held. The
  database releases that lock the moment the claimer's connection ends (the process crashed or
  was killed), so the lease can be short (OUTBOX_RESCUE_SECONDS): a crash mid-send holds up its
  conversation for seconds, not minutes, while a live sender, however slow its platform, is never
  doubled. Elsewhere (SQLite) the lease is proportional to the send timeout: longer than the two
  platform calls a send may make, each cut at twice PLATFORM_HTTP_TIMEOUT_SECONDS.
- Send: outside any transaction, bounded timeouts (integrations/platform_http.py).
- Record: under the row lock. Sent -> ``external_id`` (the platform's id) and
  ``delivery_status=sent`` in the same write; a retry of a row that has the id never sends again.
  Transient failures (network, 5xx, 429) -> ``next_attempt_at`` after ``retry_after`` or an
  exponential backoff, up to OUTBOX_MAX_ATTEMPTS; permanent ones (blocked, outside the window)
  -> ``failed`` with the platform's reason. Every change publishes ``message.updated``.
"""
import logging
from datetime import timedelta

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Min, OuterRef
from django.utils import timezone

from conversations import delivery_state
from conversations.models import Message
from conversations.services import message_publish_updated
from fiko import metrics
from integrations import platforms
from integrations.inbound import inbound_note_sent

from .outcome import SendOutcome
from .senders import outbound_for, platform_send

log = logging.getLogger("integrations.delivery")
PENDING = Message.Delivery.PENDING


def retry_delay(attempts: int) -> float:
    """Seconds before attempt ``attempts + 1``: base * 2^(attempts-1), capped."""
    return min(settings.OUTBOX_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.OUTBOX_RETRY_MAX_SECONDS)


def _due(now):
    older_pending = Message.objects.filter(
        conversation_id=OuterRef("conversation_id"), seq__lt=OuterRef("seq"), delivery_status=PENDING
    )
    return (Message.objects.filter(delivery_status=PENDING, next_attempt_at__lte=now)
            .exclude(Exists(older_pending)).order_by("next_attempt_at", "pk"))


_LOCK_SPACE = 0x46494B4F << 32  # "FIKO": our advisory-lock keys, apart from anyone else's
_CANDIDATES = 20  # due rows looked at per claim (rows whose sender is alive are skipped)


def _sender_locks() -> bool:
    return connection.vendor == "postgresql"


def lease_seconds() -> float:
    """How long a claimed row is left to its claimer (see the module docstring)."""
    if settings.OUTBOX_LEASE_SECONDS is not None:
        return settings.OUTBOX_LEASE_SECONDS
    if _sender_locks():
        return settings.OUTBOX_RESCUE_SECONDS
    return 2 * (2 * settings.PLATFORM_HTTP_TIMEOUT_SECONDS) + 5


def _try_sender_lock(message_id: int) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_LOCK_SPACE + message_id])
        return bool(cursor.fetchone()[0])


def _release_sender_lock(message_id: int) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_LOCK_SPACE + message_id])
    except Exception:  # the connection is gone, and the lock with it
        log.warning("outbox: releasing the lock of message %s failed", message_id, exc_info=True)


def outbox_claim_next(*, grace: float = 0) -> int | None:
    """Take the next due row for this worker (None when nothing is due). ``grace``: only rows
    overdue by that many seconds (a rescue-only worker, see run_delivery_worker --grace). On
    PostgreSQL the caller holds the row's sender lock until ``outbox_release``."""
    now = timezone.now()
    with transaction.atomic():
        due = _due(now - timedelta(seconds=grace)).select_for_update(skip_locked=True).values_list("pk", flat=True)
        if not _sender_locks():
            message_id = due.first()
        else:  # the first due row whose sender is not alive and sending
            message_id = next((pk for pk in due[:_CANDIDATES] if _try_sender_lock(pk)), None)
        if message_id is None:
            return None
        Message.objects.filter(pk=message_id).update(
            send_attempts=F("send_attempts") + 1,
            next_attempt_at=now + timedelta(seconds=lease_seconds()),
        )
    return message_id


def outbox_release(message_id: int) -> None:
    """The claimer is done with the row (recorded, or given up for now)."""
    if _sender_locks():
        _release_sender_lock(message_id)


def outbox_next_due_at():
    """When the earliest pending row becomes due (None when nothing is pending)."""
    return Message.objects.filter(delivery_status=PENDING).aggregate(at=Min("next_attempt_at"))["at"]


def _save_recorded(row: Message, fields: list[str]) -> None:
    try:
        with transaction.atomic():
            row.save(update_fields=fields)
    except IntegrityError:
        # Another row already holds this platform id (an echo stored before our answer came
        # back): keep the id in external_send_result only.
        row.external_id = ""
        row.save(update_fields=fields)


@transaction.atomic
def outbox_record_part(*, message_id: int, channel, external_id: str) -> None:
    """The first part of a multi-part message was accepted: keep its id before sending more."""
    row = Message.objects.select_for_update().get(pk=message_id)
    if row.delivery_status == PENDING and not row.external_id:
        row.channel, row.external_id = channel, external_id
        _save_recorded(row, ["channel", "external_id", "updated_at"])
    _note_sent(channel, external_id)


def _note_sent(channel, external_id: str) -> None:
    """Platforms that echo our own sends back learn the id now, so the echo is known as ours."""
    event_keys = platforms.adapter_for(channel.platform).echo_event_keys(external_id)
    if event_keys:
        inbound_note_sent(channel=channel, event_keys=event_keys)


@transaction.atomic
def outbox_record(*, message_id: int, channel, outcome: SendOutcome) -> str:
    """Write what the attempt came to and publish it. Returns the resulting delivery status."""
    row = Message.objects.select_for_update().get(pk=message_id)
    if row.delivery_status != PENDING:  # finished meanwhile (an Instagram echo matched it)
        return row.delivery_status
    attempts, limit = row.send_attempts, settings.OUTBOX_MAX_ATTEMPTS
    platform = channel.platform if channel is not None else "unknown"
    if outcome.status == SendOutcome.SENT:
        fields = delivery_state.mark_sent(row, channel=channel, external_id=outcome.external_message_id)
        _note_sent(channel, outcome.external_message_id)
    elif outcome.status == SendOutcome.RETRY and attempts < limit:
        delay = outcome.retry_after if outcome.retry_after is not None else retry_delay(attempts)
        fields = delivery_state.mark_retry(
            row, platform=platform, at=timezone.now() + timedelta(seconds=max(float(delay), 0.0)),
            error=f"{outcome.error} (attempt {attempts} of {limit}, retrying in {delay:g}s)")
    else:
        error = outcome.error
        if outcome.status == SendOutcome.RETRY:
            error = f"gave up after {attempts} attempts: {outcome.error}"
        fields = delivery_state.mark_failed(row, platform=platform, error=error)
    _save_recorded(row, fields)
    message_publish_updated(row)
    log.info("outbox: message %s -> %s (attempt %s)", row.pk, row.delivery_status, attempts)
    metrics.outbound_recorded(channel, row.delivery_status)
    return row.delivery_status


def outbox_deliver(message_id: int) -> str:
    """Send one claimed row and record the outcome."""
    message = (Message.objects.select_related("conversation__channel", "conversation__customer", "reply_to")
               .get(pk=message_id))
    if message.delivery_status != PENDING:
        return message.delivery_status
    channel = message.conversation.channel
    if channel is None:
        outcome = SendOutcome.failed("the conversation's channel was removed")
    elif not channel.is_active:
        outcome = SendOutcome.failed("the channel is disabled")
    elif message.send_attempts > settings.OUTBOX_MAX_ATTEMPTS:
        outcome = SendOutcome.failed(f"gave up after {message.send_attempts - 1} interrupted attempts")
    else:
        outbound = outbound_for(message, channel)
        if isinstance(outbound, SendOutcome):
            outcome = outbound
        else:
            record_part = sync_to_async(
                lambda external_id: outbox_record_part(message_id=message_id, channel=channel, external_id=external_id)
            )
            outcome = async_to_sync(platform_send)(message=message, channel=channel, outbound=outbound,
                                                   record_part=record_part)
    return outbox_record(message_id=message_id, channel=channel, outcome=outcome)


def outbox_run_once(*, limit: int = 100, grace: float = 0) -> int:
    """Claim and deliver due rows until none is due (or ``limit``). Returns how many."""
    done = 0
    while done < limit:
        message_id = outbox_claim_next(grace=grace)
        if message_id is None:
            break
        try:
            outbox_deliver(message_id)
        except Exception:  # the row stays pending; its lease expires and it is tried again
            log.exception("outbox: delivering message %s failed unexpectedly", message_id)
        finally:
            outbox_release(message_id)
        done += 1
    return done
