"""The channels-redis layer, made to honour a cancellation that redis-py swallowed.

A socket's consumer reads its channel with a blocking pop (BZPOPMIN) in a loop. When the socket
ends, Channels cancels that read. redis-py can swallow a cancellation that lands at the wrong
moment of a blocking command (redis/redis-py#2028); channels-redis then issues the next blocking
pop, and the next, for ever: the consumer task never ends (seen as a test run that hangs at the
event loop's teardown, with the receive task "cancelling" but still reading). Here every blocking
pop first checks whether its task has a cancellation pending and, if so, raises it, so such a
task ends within one pop timeout instead of never.
"""
import asyncio

from channels_redis.core import RedisChannelLayer as _RedisChannelLayer


class RedisChannelLayer(_RedisChannelLayer):
    async def _brpop_with_clean(self, index, channel, timeout):
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError("cancelled while receiving (a cancellation redis-py swallowed)")
        return await super()._brpop_with_clean(index, channel, timeout)
