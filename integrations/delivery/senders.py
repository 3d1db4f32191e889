"""One stored staff message -> the platform's API. Platform specifics live here and in the
clients; the outbox only sees ``SendOutcome``."""
from integrations.instagram.client import InstagramClient
from integrations.media import media_absolute_url, media_local_path
from integrations.telegram.client import TelegramClient

from .outcome import OutboundMessage, SendOutcome


def outbound_for(message, channel) -> OutboundMessage | SendOutcome:
    """The message as the platform needs it, or a FAILED outcome when it cannot be sent."""
    recipient = message.conversation.customer.external_id
    if not recipient:
        return SendOutcome.failed("the customer has no id on this platform")
    media_url = media_path = ""
    if message.message_type != "text":
        if not message.media_url:
            return SendOutcome.failed("the message has no media to send")
        path = media_local_path(message.media_url)
        media_path = str(path) if path else ""
        media_url = media_absolute_url(message.media_url)
    reply = message.reply_to
    reply_external = reply.external_id if reply is not None and reply.channel_id == channel.pk else ""
    return OutboundMessage(recipient_id=recipient, text=message.content, message_type=message.message_type,
                           media_url=media_url, media_path=media_path, reply_to_external_id=reply_external)


async def platform_send(*, message, channel, outbound: OutboundMessage, record_part) -> SendOutcome:
    """Send what the platform has not accepted yet. ``message.external_id`` set means an earlier
    attempt got the platform's id for the (first) part: that part is never sent again.
    ``record_part(external_id)`` (async) stores a first part's id before the next part goes."""
    if channel.platform == "telegram":
        if message.external_id:  # accepted before; only our bookkeeping was interrupted
            return SendOutcome.sent(message.external_id)
        return await TelegramClient(channel.bot_token).send(outbound)
    if channel.platform == "instagram":
        return await _instagram_send(message, channel, outbound, record_part)
    return SendOutcome.failed(f"unknown platform {channel.platform}")


async def _instagram_send(message, channel, outbound: OutboundMessage, record_part) -> SendOutcome:
    """Instagram has no captions: media with text goes as two messages, attachment first."""
    client = InstagramClient(channel)
    has_media = outbound.message_type != "text"
    if has_media and not message.external_id:
        if not outbound.media_url.startswith(("http://", "https://")):
            return SendOutcome.failed("the media has no public URL Instagram could fetch (set PUBLIC_BASE_URL)")
        outcome = await client.send_attachment(outbound.recipient_id, outbound.message_type, outbound.media_url)
        if outcome.status != SendOutcome.SENT or not outbound.text:
            return outcome
        await record_part(outcome.external_message_id)
    elif message.external_id and not (has_media and outbound.text):
        return SendOutcome.sent(message.external_id)
    return await client.send_text(outbound.recipient_id, outbound.text)
