"""The Redis channel layer ends a receive whose task was cancelled even when the cancellation
was swallowed on the way (redis/redis-py#2028), instead of popping for ever."""
import asyncio

import pytest
from channels.layers import get_channel_layer


async def test_a_receive_whose_cancellation_was_swallowed_still_ends(redis_url, settings):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    started = asyncio.Event()

    async def receiver():
        try:
            started.set()
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # what redis-py does in the race: the cancellation is gone, the task goes on
        return await layer.receive(channel)

    task = asyncio.create_task(receiver())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=15)  # the stock layer pops for ever (TimeoutError here)


async def test_messages_are_still_received(redis_url):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "hello", "n": 1})
    assert await asyncio.wait_for(layer.receive(channel), timeout=5) == {"type": "hello", "n": 1}
