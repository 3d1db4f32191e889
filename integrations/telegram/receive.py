"""One Telegram update, verified and parsed, into the inbox.

Files are fetched here, inside the webhook request but before any database transaction, with
bounded timeouts (getFile, then the download). A file that cannot be fetched does not lose the
message: it is stored with its caption and a marker saying what is missing. Redeliveries of a
file are answered early (no second download); the unique event key decides every update.
"""
from pathlib import PurePosixPath

from asgiref.sync import sync_to_async
from fiko.db import database_sync_to_async

from integrations import platform_http
from integrations.inbound import (
    InboundPart, InboundResult, inbound_edit_receive, inbound_message_receive, inbound_seen, platform_message_exists,
)
from integrations.media import media_store, stored_message_type

from .client import TelegramClient
from .parsing import TelegramMessage


def unsupported_marker(label: str) -> str:
    return f"[{label}: this kind of message is not supported yet]"


def missing_file_marker(label: str) -> str:
    return f"[{label} could not be downloaded from Telegram]"


async def _fetch_file(channel, update: TelegramMessage) -> str:
    """Our URL of the update's file. Raises PlatformHTTPError."""
    file = update.file
    data, file_path = await TelegramClient(channel.bot_token).download_file(file.file_id)
    suffix = PurePosixPath(file_path).suffix or platform_http.extension_for("", data)
    name = f"{file.file_unique_id}-{PurePosixPath(file.file_name).stem}" if file.file_name else file.file_unique_id
    return await sync_to_async(media_store, thread_sensitive=False)(
        channel_id=channel.pk, name=f"{name}{suffix}", data=data,
    )


async def _part(channel, update: TelegramMessage) -> InboundPart:
    if update.unsupported:
        return InboundPart(update.external_id, unsupported_marker(update.unsupported))
    if update.file is None:
        return InboundPart(update.external_id, update.text)
    try:
        url = await _fetch_file(channel, update)
    except platform_http.PlatformHTTPError:
        marker = missing_file_marker(update.file.label.capitalize())
        return InboundPart(update.external_id, f"{update.text}\n{marker}" if update.text else marker)
    return InboundPart(update.external_id, update.text, stored_message_type(url, update.file.message_type), url)


async def telegram_update_receive(*, channel, update: TelegramMessage) -> InboundResult:
    db = database_sync_to_async
    # Early answer only where it saves a download; otherwise the event's unique key decides.
    if update.file is not None and await db(inbound_seen)(channel=channel, event_key=update.event_key):
        return InboundResult(InboundResult.DUPLICATE)
    if update.is_edit and await db(platform_message_exists)(channel=channel, external_id=update.external_id):
        if update.unsupported:  # e.g. live location updates: nothing we show changed
            return InboundResult(InboundResult.IGNORED, detail="edit of content we do not show")
        part = InboundPart(update.external_id, update.text)  # an edit changes the text or caption
        return await db(inbound_edit_receive)(channel=channel, event_key=update.event_key,
                                              person=update.sender, part=part)
    part = await _part(channel, update)
    if update.is_edit:
        return await db(inbound_edit_receive)(channel=channel, event_key=update.event_key,
                                              person=update.sender, part=part)
    return await db(inbound_message_receive)(
        channel=channel, event_key=update.event_key, person=update.sender, parts=[part],
        reply_to_external_id=update.reply_to_external_id,
    )
