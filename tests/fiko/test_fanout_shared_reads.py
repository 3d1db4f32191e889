"""fiko/fanout.py: reads of a group's state shared by the sockets of a process that join it
together (``Hub.shared_read``), and ``Hub.catch_up``, which tells when this process has heard
every event published before it asked. On the real Redis fan-out, and in process."""
import asyncio

import pytest

from fiko import fanout, realtime

GROUP = "conversation.424242"


class Member:
    def __init__(self):
        self.events = []

    def deliver(self, event, size):
        self.events.append(event)

    def fanout_lost(self):
        pass


@pytest.fixture(params=["redis", "in-process"])
def mode(request, settings):
    if request.param == "in-process":
        settings.REDIS_URL = ""
    return request.param


def share(hub, max_age: float = 60):
    """The conversation's shared read of "recent", as the chat handshake asks for it."""
    return hub.shared_read(GROUP, "recent", max_age=max_age, kept_by=realtime.ROWLESS_EVENTS)


@pytest.fixture
async def joined():
    """This loop's hub, with a member in GROUP (left at the end)."""
    hub, member = fanout.hub(), Member()
    await hub.join(GROUP, member)
    yield hub, member
    if member in hub.members.get(GROUP, ()):
        await hub.leave(GROUP, member)


async def test_catch_up_returns_after_every_event_published_before_it(mode, joined):
    hub, member = joined
    for n in range(20):  # from this thread, without yielding: nothing is heard until we wait
        fanout.publish([GROUP], {"type": realtime.MESSAGE_CREATED, "n": n})
    assert member.events == []
    await hub.catch_up()
    assert [event["n"] for event in member.events] == list(range(20))


async def test_callers_catching_up_together_share_a_ping(redis_url, joined, monkeypatch):
    hub, member = joined
    pings, real_ping = [], hub._pubsub.ping

    def counted(*args):  # this hub's PINGs, sent to Redis as they are (not another client's)
        pings.append(args)
        return real_ping(*args)

    monkeypatch.setattr(hub._pubsub, "ping", counted)
    await asyncio.gather(*(hub.catch_up() for _ in range(100)))
    assert 1 <= len(pings) <= 2  # one PING for the burst (two if it straddled one)


async def test_a_shared_read_lasts_until_an_event_that_changes_it(mode, joined):
    hub, member = joined
    read, mine = share(hub)
    assert mine
    read.offer({"messages": [1, 2]})
    again, mine = share(hub)
    assert again is read and not mine and await again.value() == {"messages": [1, 2]}

    fanout.publish([GROUP], {"type": realtime.PRESENCE_CHANGED})  # no row: the read still holds
    await hub.catch_up()
    assert not read.stale and await read.value() == {"messages": [1, 2]}

    fanout.publish([GROUP], {"type": realtime.MESSAGE_CREATED})
    await hub.catch_up()
    assert read.stale and await read.value() is None
    fresh, mine = share(hub)
    assert mine and fresh is not read


async def test_a_read_waited_for_goes_stale_with_an_event_that_arrives_meanwhile(mode, joined):
    """A message stored while the first socket's read is under way: whoever waits for that read
    is told it is stale, and reads for itself."""
    hub, member = joined
    read, _ = share(hub)
    waiting = asyncio.ensure_future(share(hub)[0].value())
    fanout.publish([GROUP], {"type": realtime.MESSAGES_READ})
    await hub.catch_up()
    read.offer({"messages": ["read before the event"]})
    assert await waiting is None


async def test_a_read_is_not_shared_once_nothing_here_hears_the_group(mode, joined):
    hub, member = joined
    read, _ = share(hub)
    read.offer("frame")
    await hub.leave(GROUP, member)  # events to the group are no longer heard: the read goes stale
    assert read.stale
    outside, mine = share(hub)
    assert mine and outside is not read
    await hub.join(GROUP, member)
    again, mine = share(hub)
    assert mine and again is not outside  # a read made while unheard is not kept


async def test_a_read_older_than_max_age_is_not_shared(mode, joined):
    hub, member = joined
    read, _ = share(hub)
    read.offer("frame")
    newer, mine = share(hub, 0)
    assert mine and newer is not read


async def test_a_read_too_old_to_share_is_let_go(mode, joined):
    """What was read (a conversation's recent messages) is not held once nobody may take it."""
    hub, member = joined
    read, _ = share(hub, 0.05)
    read.offer("frame")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while GROUP in hub._shared and loop.time() < deadline:
        await asyncio.sleep(0.01)
    assert GROUP not in hub._shared


async def test_a_ping_that_cannot_be_written_fails_its_callers_and_not_the_next(redis_url, monkeypatch, joined):
    hub, member = joined
    pubsub, real_ping = hub._pubsub, hub._pubsub.ping

    async def broken(*args):
        raise ConnectionError("write failed")

    monkeypatch.setattr(pubsub, "ping", broken)
    with pytest.raises(fanout.FanoutUnavailable):
        await hub.catch_up()
    monkeypatch.setattr(pubsub, "ping", real_ping)
    fanout.publish([GROUP], {"type": realtime.MESSAGE_CREATED})
    await asyncio.wait_for(hub.catch_up(), 5)
    assert [event["type"] for event in member.events] == [realtime.MESSAGE_CREATED]
