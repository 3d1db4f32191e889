"""Who speaks on a socket: a staff user or a (web-chat) customer, and the one key that names
them wherever they are kept or sent: ``user:5``, ``customer:9`` (presence entries, a principal's
group, presence frames, a chat's ``online_participants``). Keys are written and read only here.

``kind`` is the side as the wire names it (``participant_type``, a read marker's
``reader_type``): ``user`` or ``customer``.
"""
from typing import NamedTuple

USER = "user"
CUSTOMER = "customer"
KINDS = (USER, CUSTOMER)


class Participant(NamedTuple):
    kind: str  # USER | CUSTOMER
    id: int

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @classmethod
    def parse(cls, key: str) -> "Participant | None":
        """The participant ``key`` names; None for anything else."""
        kind, _, pk = key.partition(":")
        if kind in KINDS and pk.isascii() and pk.isdigit():
            return cls(kind, int(pk))
        return None

    @classmethod
    def of(cls, *, user=None, customer=None) -> "Participant":
        """The participant a principal is: its staff user, else its customer."""
        return cls(USER, user.pk) if user is not None else cls(CUSTOMER, customer.pk)


def parse_keys(keys) -> list[Participant]:
    """The participants among ``keys``, in key order (what presence holds, for a frame)."""
    return [participant for participant in map(Participant.parse, sorted(keys)) if participant is not None]
