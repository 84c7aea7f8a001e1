"""One client connection on `.zeus.sock`, as tables (both dialects: the client path is
the same whatever the slaves speak).

The machine does not know which side it plays: `zeus-fsm start` feeds it what a
client sends and what it answers; `zeus-fsm run` feeds it what it sends and what
the master answers. Each side knows which end closed (the other's), so "the
client went away" (`vanish`) and "the master closed" (`close`) are two triggers::

    request --request--> arguments --fd--> stdout --fd--> stderr --fd--> starting
      starting --pid--> running --status--> exited --close|vanish--> closed
      starting --crashed--> crashed --status--> exited         (pid 0: the slave crashed)
      running --vanish--> gone                                 (the command is ended)
    any violation -> broken

Nothing times out once the command runs (`zeus console` may run for hours); the
client's own steps, and the master's pid, are bounded by the side that waits.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import attrs

from zeus_fsm.protocol import client_wire
from zeus_fsm.protocol.errors import (
    BadDescriptor,
    ChannelClosed,
    CredentialsMismatch,
    ProtocolError,
    Role,
    StepTimeout,
    UnexpectedEvent,
)
from zeus_fsm.protocol.events import Deadline, FdKind
from zeus_fsm.protocol.flat import Moved, TableMachine
from zeus_fsm.protocol.messages import CommandRequest, CommandStarted, ExitStatus
from zeus_fsm.protocol.tables import RejectionSpec, StateSpec, TransitionSpec, TriggerSpec

#: The exit status the master sends after a crashed slave's error text.
CRASHED_STATUS: Final = 1
#: What each of the client's fds may be, in the order they come.
CLIENT_FD_NAMES: Final = ("arguments", "stdout", "stderr")
_STREAM_OR_TERMINAL: Final = frozenset({FdKind.UNIX_STREAM, FdKind.TERMINAL})


@attrs.frozen
class ClientFdPassed:
    """One of the client's three fds arrived on the connection (or was sent)."""

    kinds: tuple[FdKind, ...]
    payload: bytes = client_wire.FD_PAYLOAD


@attrs.frozen
class ClientVanished:
    """The client's end of the connection closed (seen by the master)."""


@attrs.frozen
class MasterClosed:
    """The master's end of the connection closed (seen by the client)."""


ClientEvent = (CommandRequest | ClientFdPassed | CommandStarted | ExitStatus | ClientVanished
               | MasterClosed | Deadline)

# --------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------

CLIENT_TRIGGERS: Final[tuple[TriggerSpec, ...]] = (
    TriggerSpec("request", Role.CLIENT, "T:<argc>:<client_pid>:<command>"),
    TriggerSpec("fd", Role.CLIENT, "one of the client's fds: arguments, stdout, stderr"),
    TriggerSpec("pid", Role.MASTER, "<pid>: the command runs"),
    TriggerSpec("crashed", Role.MASTER, "0: the slave that provides the command has crashed"),
    TriggerSpec("status", Role.MASTER, "<code>: the command's exit status"),
    TriggerSpec("vanish", Role.CLIENT, "the client's end of the connection closed"),
    TriggerSpec("close", Role.MASTER, "the master's end of the connection closed"),
    TriggerSpec("timeout", Role.CLIENT, "a bounded wait ran out"),
)

CLIENT_STATES: Final[tuple[StateSpec, ...]] = (
    StateSpec("request", "connected: waiting for T"),
    StateSpec("arguments", "T received: waiting for the arguments fd"),
    StateSpec("stdout", "waiting for the stdout fd (also the command's stdin)"),
    StateSpec("stderr", "waiting for the stderr fd"),
    StateSpec("starting", "the fds are in: the master starts the command and owes its pid"),
    StateSpec("running", "the pid is sent: the command runs (no deadline)"),
    StateSpec("crashed", "pid 0 is sent: the slave's error text went to stdout; status 1 "
                         "follows"),
    StateSpec("exited", "the exit status is sent: the connection closes"),
    StateSpec("closed", "the exchange is over", terminal=True),
    StateSpec("gone", "the client went away while its command ran: the command is ended",
              terminal=True),
    StateSpec("broken", "a rule was broken; the connection is closed", terminal=True),
)

CLIENT_TRANSITIONS: Final[tuple[TransitionSpec, ...]] = (
    TransitionSpec("request", "request", "arguments", "CLIENT-1", ("client_pid_is_peer",),
                   doc="the client asks for a command"),
    TransitionSpec("fd", "arguments", "stdout", "CLIENT-2", ("one_fd_on_one_nul",
                                                             "arguments_is_a_stream"),
                   doc="the arguments: one end of a socketpair, read to its end of file"),
    TransitionSpec("fd", "stdout", "stderr", "CLIENT-3", ("one_fd_on_one_nul",
                                                          "stream_or_terminal"),
                   doc="stdout, also the command's stdin"),
    TransitionSpec("fd", "stderr", "starting", "CLIENT-3", ("one_fd_on_one_nul",
                                                            "stream_or_terminal"),
                   doc="stderr"),
    TransitionSpec("pid", "starting", "running", "CLIENT-4", doc="the command's pid"),
    TransitionSpec("crashed", "starting", "crashed", "CLIENT-6",
                   doc="the slave crashed: pid 0, its error text on stdout"),
    TransitionSpec("status", "running", "exited", "CLIENT-5", doc="the command's exit status"),
    TransitionSpec("status", "crashed", "exited", "CLIENT-6", ("status_is_crashed",),
                   doc="status 1 after a crashed slave's error text"),
    TransitionSpec("close", "exited", "closed", "CLIENT-5",
                   doc="the master closes once the status is sent"),
    TransitionSpec("vanish", "exited", "closed", "CLIENT-5",
                   doc="the client leaves once it has its status"),
    TransitionSpec("vanish", "running", "gone", "CLIENT-7",
                   doc="the client went away: the master ends its command"),
)

CLIENT_REJECTIONS: Final[tuple[RejectionSpec, ...]] = (
    RejectionSpec("timeout", "request", "CLIENT-1", "no T arrived"),
    RejectionSpec("timeout", "arguments", "CLIENT-2", "no arguments fd arrived after T"),
    RejectionSpec("timeout", "stdout", "CLIENT-3", "no stdout fd arrived"),
    RejectionSpec("timeout", "stderr", "CLIENT-3", "no stderr fd arrived"),
    RejectionSpec("timeout", "starting", "CLIENT-4", "no pid arrived"),
    RejectionSpec("vanish", "starting", "CLIENT-7", "the client went away before its command "
                  "started: nothing is started for it"),
    RejectionSpec("vanish", "crashed", "CLIENT-7", "the client went away before its status"),
    RejectionSpec("vanish", "*", "CLIENT-2",
                  "the client closed the connection before its request was complete"),
    RejectionSpec("close", "running", "CLIENT-5",
                  "the master closed the connection before the exit status"),
    RejectionSpec("close", "crashed", "CLIENT-6",
                  "the master closed the connection before the crashed slave's status"),
    RejectionSpec("close", "*", "CLIENT-8",
                  "the master closed the connection without a pid: it provides no such "
                  "command (or refused this user)"),
    RejectionSpec("request", "*", "CLIENT-1", "T comes once, first"),
    RejectionSpec("fd", "*", "CLIENT-3", "three fds come, right after T"),
    RejectionSpec("pid", "*", "CLIENT-4", "the pid comes once, after the three fds"),
    RejectionSpec("crashed", "*", "CLIENT-4", "the pid comes once, after the three fds"),
    RejectionSpec("status", "*", "CLIENT-5", "the exit status comes once, after the pid"),
    RejectionSpec("*", "broken", "CLIENT-1", "the exchange is already broken"),
)

_EVENT_TRIGGERS: Final[dict[type[Any], str]] = {
    CommandRequest: "request",
    ClientFdPassed: "fd",
    ExitStatus: "status",
    ClientVanished: "vanish",
    MasterClosed: "close",
    Deadline: "timeout",
}

# A timeout while the master owes the pid is the master's fault, not the client's.
_TIMEOUT_CULPRIT: Final = {"starting": Role.MASTER}


@attrs.define
class ClientExpectation:
    """What the side that judges knows: the SO_PEERCRED pid of the client's connection."""

    peer_pid: int | None = None


class ClientExchange(TableMachine):
    """One client connection, as either side sees it. Read `request`, `pid`, `status`."""

    STATES: ClassVar = CLIENT_STATES
    TRANSITIONS: ClassVar = CLIENT_TRANSITIONS
    REJECTIONS: ClassVar = CLIENT_REJECTIONS
    TRIGGERS: ClassVar = CLIENT_TRIGGERS
    ERROR_CLASSES: ClassVar = {"timeout": StepTimeout, "vanish": ChannelClosed,
                               "close": ChannelClosed}
    STATE_PREFIX: ClassVar = "client"
    INITIAL: ClassVar = "request"

    def __init__(self, expect: ClientExpectation | None = None,
                 on_transition: Moved | None = None) -> None:
        self.expect = expect or ClientExpectation()
        self.request: CommandRequest | None = None
        self.fds: list[tuple[FdKind, ...]] = []
        self.pid: int | None = None
        self.status: int | None = None
        super().__init__(on_transition)

    def trigger_of(self, event: ClientEvent) -> str:
        if isinstance(event, CommandStarted):
            return "crashed" if event.crashed else "pid"
        return _EVENT_TRIGGERS[type(event)]

    def wire_of(self, event: ClientEvent) -> bytes | None:
        if isinstance(event, CommandRequest | CommandStarted | ExitStatus):
            return client_wire.encode(event)
        if isinstance(event, ClientFdPassed):
            return event.payload
        return None

    def record(self, event: ClientEvent) -> None:
        if isinstance(event, CommandRequest):
            self.request = event
        elif isinstance(event, ClientFdPassed):
            self.fds.append(event.kinds)
        elif isinstance(event, CommandStarted):
            self.pid = event.pid
        elif isinstance(event, ExitStatus):
            self.status = event.code

    def _refusal(self, rejection: RejectionSpec, trigger: str, event: Any) -> ProtocolError:
        error = super()._refusal(rejection, trigger, event)
        if trigger == "timeout":
            error.culprit = _TIMEOUT_CULPRIT.get(self.state, Role.CLIENT)
            error.args = (error.describe(),)
        return error

    # ---- guards: each returns True or raises the ProtocolError it found ------

    def _guard_client_pid_is_peer(self, event: CommandRequest) -> bool:
        peer = self.expect.peer_pid
        if peer is not None and event.client_pid != peer:
            raise CredentialsMismatch(
                f"T says client pid {event.client_pid}, SO_PEERCRED of the connection says "
                f"{peer}: the runner would watch the wrong process", culprit=Role.CLIENT,
                requirement="CLIENT-1", data=client_wire.encode(event))
        return True

    def _guard_one_fd_on_one_nul(self, event: ClientFdPassed) -> bool:
        requirement = "CLIENT-2" if self.state == "arguments" else "CLIENT-3"
        if len(event.kinds) != 1:
            what = "no fd" if not event.kinds else f"{len(event.kinds)} fds"
            raise BadDescriptor(f"expected exactly one fd, got {what}", culprit=Role.CLIENT,
                                requirement=requirement)
        if event.payload != client_wire.FD_PAYLOAD:
            raise UnexpectedEvent("each fd comes on exactly one NUL byte", culprit=Role.CLIENT,
                                  requirement=requirement, data=event.payload)
        return True

    def _guard_arguments_is_a_stream(self, event: ClientFdPassed) -> bool:
        if event.kinds[0] is not FdKind.UNIX_STREAM:
            raise BadDescriptor(f"the arguments fd must be an {FdKind.UNIX_STREAM.value}, "
                                f"got: {event.kinds[0].value}", culprit=Role.CLIENT,
                                requirement="CLIENT-2")
        return True

    def _guard_stream_or_terminal(self, event: ClientFdPassed) -> bool:
        if event.kinds[0] not in _STREAM_OR_TERMINAL:
            name = CLIENT_FD_NAMES[len(self.fds)]
            raise BadDescriptor(f"the {name} fd must be a terminal or an "
                                f"{FdKind.UNIX_STREAM.value}, got: {event.kinds[0].value}",
                                culprit=Role.CLIENT, requirement="CLIENT-3")
        return True

    def _guard_status_is_crashed(self, event: ExitStatus) -> bool:
        if event.code != CRASHED_STATUS:
            raise UnexpectedEvent(f"after pid 0 the status is {CRASHED_STATUS}, got "
                                  f"{event.code}", culprit=Role.MASTER, requirement="CLIENT-6",
                                  data=client_wire.encode(event))
        return True
