"""Errors that say who broke which rule of the handshake.

Modelled on h11's distinction between local and remote protocol errors:
every ProtocolError names the culprit (the slave or the master), the
requirement ID from spec/handshake.md, the state it happened in, and the
offending bytes shown safely (repr, truncated).
"""

from __future__ import annotations

import enum

from zeus_fsm.protocol.escapes import show_bytes


class Role(enum.Enum):
    """A side of the handshake."""

    SLAVE = "slave"
    MASTER = "master"
    CLIENT = "client"  # the `zeus` client of the command path (CLIENT-n rules)


class ProtocolError(Exception):
    """A rule of the handshake was broken.

    Decoders, the machine and the transport raise nothing else on bad input.
    `salvaged` holds the valid messages decoded from the same input before the
    bad one, so that a caller loses nothing that was reported correctly.
    """

    salvaged: tuple[object, ...] = ()

    def __init__(
        self,
        reason: str,
        *,
        culprit: Role,
        requirement: str,
        state: str | None = None,
        data: bytes | None = None,
    ) -> None:
        self.reason = reason
        self.culprit = culprit
        self.requirement = requirement
        self.state = state
        self.data = data
        super().__init__(self.describe())

    def describe(self) -> str:
        where = f" in state {self.state}" if self.state else ""
        shown = f": {show_bytes(self.data)}" if self.data is not None else ""
        return f"{self.culprit.value} broke {self.requirement}{where}: {self.reason}{shown}"

    def with_state(self, state: str) -> ProtocolError:
        """Fill in the state where the error surfaced (decoders do not know it)."""
        if self.state is None:
            self.state = state
            self.args = (self.describe(),)
        return self

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready view, for reports."""
        return {
            "error": type(self).__name__,
            "culprit": self.culprit.value,
            "requirement": self.requirement,
            "state": self.state,
            "reason": self.reason,
            "data": None if self.data is None else show_bytes(self.data),
        }


class MalformedMessage(ProtocolError):
    """Bytes that do not decode to a valid message."""


class FrameTooLarge(MalformedMessage):
    """A frame or datagram over the size cap (an unterminated frame cannot grow forever)."""


class UnexpectedEvent(ProtocolError):
    """A valid message or fd that the handshake does not allow in the current state."""


class BadDescriptor(ProtocolError):
    """A passed file descriptor that is missing, of the wrong type, or one too many."""


class CredentialsMismatch(ProtocolError):
    """The peer's SO_PEERCRED pid or uid does not match what the slave claims."""


class StepTimeout(ProtocolError):
    """A step of the handshake did not complete within its bounded wait."""


class ChannelClosed(ProtocolError):
    """The peer closed a channel (or exited) before the handshake allowed it."""


class BadEnvironment(Exception):
    """The slave was started without a usable ZEUS_MASTER_FD (not a protocol exchange)."""
