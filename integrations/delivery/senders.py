"""One stored staff message -> the platform's API. Platform specifics live in each platform's
adapter (integrations/platforms.py) and client; the outbox only sees ``SendOutcome``."""
from integrations import platforms
from integrations.media import media_absolute_url, media_local_path

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
    """Send what the platform has not accepted yet, through the channel's platform adapter.
    ``message.external_id`` set means an earlier attempt got the platform's id for the (first)
    part: that part is never sent again. ``record_part(external_id)`` (async) stores a first
    part's id before the next part goes."""
    adapter = platforms.adapter_for(channel.platform)
    if adapter is None:
        return SendOutcome.failed(f"unknown platform {channel.platform}")
    return await adapter.send(message=message, channel=channel, outbound=outbound, record_part=record_part)
