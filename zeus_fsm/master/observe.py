"""What the master lets an observer see: one frozen event class per kind of fact.

The narrated trace and other views are built on these, so they are a stable
interface: fields are only ever added. Every event carries `at`
(time.monotonic() seconds) and `session`, a snapshot of which slave it is
about (None for traffic on the master socket that no slave has claimed yet).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import attrs

from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.events import Event, FdKind
from zeus_fsm.protocol.tables import TransitionSpec


class Direction(enum.Enum):
    RECEIVED = "received"  # slave -> master
    SENT = "sent"  # master -> slave


class Channel(enum.Enum):
    MASTER = "master socket"  # the inherited SOCK_DGRAM socket every slave registers on
    SLAVE = "slave socket"  # the slave's own socket (P, R, F in spec; S/C from the master)
    PIPE = "loaded-files pipe"  # zeus only
    RUNNER = "runner socket"  # zeus only: one command's header, fds, P and status


@attrs.frozen
class SessionRef:
    """Which slave an event is about, as it was when the event happened."""

    session_id: int  # stable for the master's lifetime; pids arrive late
    identifier: str
    pid: int | None
    parent_pid: int | None


@attrs.frozen
class WireEvent:
    """Raw bytes (and fds) read or written, exactly as they crossed the channel."""

    at: float
    session: SessionRef | None
    direction: Direction
    channel: Channel
    data: bytes
    fds: tuple[FdKind, ...] = ()
    eof: bool = False


@attrs.frozen
class HandshakeFed:
    """One event handed to the session's Handshake (a message, an fd fact, a close, a deadline)."""

    at: float
    session: SessionRef
    event: Event


@attrs.frozen
class HandshakeMoved:
    """The Handshake took a transition (internal ones too: dest "=")."""

    at: float
    session: SessionRef
    before: str
    trigger: str
    after: str
    spec: TransitionSpec


@attrs.frozen
class LifecycleMoved:
    at: float
    session: SessionRef
    before: str
    trigger: str
    after: str
    spec: TransitionSpec


@attrs.frozen
class CommandMoved:
    """A command's machine took a transition (protocol/command.py's tables)."""

    at: float
    session: SessionRef  # the slave the command was asked of
    run_id: int
    name: str
    before: str
    trigger: str
    after: str
    spec: TransitionSpec


@attrs.frozen
class ErrorRecorded:
    """A ProtocolError the master recorded (on a session, or on the master for strays)."""

    at: float
    session: SessionRef | None
    error: ProtocolError


class ProcessAction(enum.Enum):
    STARTED = "started"  # the root process was spawned
    SIGNALLED = "signalled"  # SIGTERM or SIGKILL sent
    EXITED = "exited"  # the pidfd became readable
    REAPED = "reaped"  # waitpid collected the root's status


@attrs.frozen
class ProcessEvent:
    at: float
    session: SessionRef | None
    action: ProcessAction
    pid: int
    detail: str = ""  # signal name, exit status, command line


ObservedEvent = (WireEvent | HandshakeFed | HandshakeMoved | LifecycleMoved | CommandMoved
                 | ErrorRecorded | ProcessEvent)
Observer = Callable[[ObservedEvent], None]
