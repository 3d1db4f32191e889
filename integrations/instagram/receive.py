"""Instagram messaging events, verified and parsed, into the inbox (one transaction each).

Before the transaction, with bounded timeouts: the customer's profile (name, username, picture)
is fetched from the Graph API when we have none or it is older than
``INSTAGRAM_PROFILE_MAX_AGE_HOURS``, and attachments are fetched to our storage. Neither failure
loses the message: a missing profile is fetched again next time, a missing file becomes a marker.
"""
import hashlib
from datetime import timedelta

import httpx
from asgiref.sync import sync_to_async
from fiko.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from customers.selectors import customer_by_platform_id
from integrations import platform_http, webhooks
from integrations.inbound import (
    InboundPart, InboundResult, PlatformPerson, inbound_echo_receive, inbound_edit_receive, inbound_message_receive,
    inbound_read_receive, inbound_seen,
)
from integrations.media import media_store, stored_message_type

from .client import InstagramClient
from .parsing import IGEdit, IGMessage, IGRead, Ignored

db = database_sync_to_async
store = sync_to_async(media_store, thread_sensitive=False)


def unsupported_marker(label: str) -> str:
    return f"[Instagram {label}: this kind of message is not supported yet]"


def missing_file_marker(label: str) -> str:
    return f"[{label} could not be downloaded from Instagram]"


def _profile_is_fresh(channel, igsid: str) -> bool:
    customer = customer_by_platform_id(workspace_id=channel.workspace_id, source="instagram", external_id=igsid)
    fetched = customer.profile_fetched_at if customer is not None else None
    max_age = timedelta(hours=settings.INSTAGRAM_PROFILE_MAX_AGE_HOURS)
    return fetched is not None and timezone.now() - fetched < max_age


def _profile_text(value) -> str:
    """A profile field as text we can store (the Graph API's answer is not trusted either)."""
    if not isinstance(value, str):
        return ""
    return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")  # no NUL, no lone surrogate


async def customer_person(channel, igsid: str) -> PlatformPerson:
    """The customer, with a fresh profile when ours is missing or stale (best effort)."""
    if await db(_profile_is_fresh)(channel, igsid):
        return PlatformPerson(igsid)
    client = InstagramClient(channel)
    try:
        profile = await client.get_profile(igsid)
    except platform_http.PlatformHTTPError:
        return PlatformPerson(igsid)
    first, _, last = _profile_text(profile.get("name")).strip().partition(" ")
    picture = None
    if isinstance(profile.get("profile_pic"), str) and profile["profile_pic"]:
        try:
            data, content_type = await platform_http.download(str(profile["profile_pic"]), secrets=(client.token,))
            name = f"{igsid}-{hashlib.sha256(data).hexdigest()[:10]}{platform_http.extension_for(content_type, data, '.jpg')}"
            picture = await store(channel_id=channel.pk, folder="profiles", name=name, data=data)
        except (platform_http.PlatformHTTPError, httpx.InvalidURL, UnicodeError):  # a URL httpx refuses
            picture = None  # keep the picture we had; the name is still worth storing
    return PlatformPerson(igsid, first_name=first[:150], last_name=last.strip()[:150],
                          username=_profile_text(profile.get("username"))[:150], profile_picture=picture,
                          profile_fetched_at=timezone.now())


async def _parts(channel, event: IGMessage) -> list[InboundPart]:
    """One part per attachment (the first keeps the ``mid``), or the text alone."""
    if not event.attachments:
        text = event.text or (unsupported_marker("message") if event.is_unsupported else "")
        return [InboundPart(event.mid, text)] if text else []
    parts = []
    for index, attachment in enumerate(event.attachments):
        external_id = event.mid if index == 0 else f"{event.mid}#{index + 1}"
        content = event.text if index == 0 else ""
        if attachment.message_type is None:
            marker = unsupported_marker(attachment.label)
            text = f"{attachment.title}\n{marker}" if attachment.title else marker
            parts.append(InboundPart(external_id, f"{content}\n{text}" if content else text))
            continue
        try:
            data, content_type = await platform_http.download(attachment.url, secrets=(channel.access_token,))
            name = f"{hashlib.sha256(external_id.encode()).hexdigest()[:24]}{platform_http.extension_for(content_type, data)}"
            url = await store(channel_id=channel.pk, name=name, data=data)
        except platform_http.PlatformHTTPError:
            marker = missing_file_marker(attachment.kind.capitalize())
            parts.append(InboundPart(external_id, f"{content}\n{marker}" if content else marker))
            continue
        parts.append(InboundPart(external_id, content, stored_message_type(url, attachment.message_type), url))
    return parts


async def _message(channel, event: IGMessage) -> InboundResult:
    if await db(inbound_seen)(channel=channel, event_key=event.event_key):
        return InboundResult(InboundResult.DUPLICATE)
    if event.is_deleted:
        return await db(inbound_edit_receive)(channel=channel, event_key=event.event_key,
                                              person=PlatformPerson(event.customer_id),
                                              part=InboundPart(event.mid), deleted=True)
    person = await customer_person(channel, event.customer_id)
    parts = await _parts(channel, event)
    if not parts:
        return InboundResult(InboundResult.IGNORED, detail="message without content")
    if event.is_echo:
        first = event.attachments[0] if event.attachments else None
        echo_kind = (first.message_type or "text") if first else "text"
        return await db(inbound_echo_receive)(channel=channel, event_key=event.event_key, person=person,
                                              part=parts[0], echo_kind=echo_kind)
    return await db(inbound_message_receive)(channel=channel, event_key=event.event_key, person=person,
                                             parts=parts, reply_to_external_id=event.reply_to_mid or None)


async def _event_receive(channel, event) -> InboundResult:
    if isinstance(event, Ignored):
        return InboundResult(InboundResult.IGNORED, detail=event.reason)
    if isinstance(event, IGRead):
        return await db(inbound_read_receive)(
            channel=channel, event_key=event.event_key, customer_external_id=event.sender_id,
            read_external_id=event.mid or None)
    if isinstance(event, IGEdit):
        return await db(inbound_edit_receive)(
            channel=channel, event_key=event.event_key, person=PlatformPerson(event.sender_id),
            part=InboundPart(event.mid, event.text))
    return await _message(channel, event)


async def instagram_events_receive(*, channel, events: list) -> list[InboundResult]:
    """Every event of one delivery, in order, each in its own transaction.

    The database down (``webhooks.OUTAGE``) propagates: the view answers 503, the platform
    redelivers, and what was already stored dedupes. An event the database refuses
    (``webhooks.BAD_UPDATE``) is ignored and logged; the other events of the delivery still count."""
    results = []
    for event in events:
        try:
            results.append(await _event_receive(channel, event))
        except webhooks.BAD_UPDATE as exc:
            reason = webhooks.bad_update_reason(exc)
            webhooks.log_ignored("instagram", channel.pk, getattr(event, "mid", ""), reason)
            results.append(InboundResult(InboundResult.IGNORED, detail=reason))
    return results
