"""One command, as tables run by a flat `transitions` Machine (zeus dialect only).

The master's view of one `C:<command>` and what follows it, written in the
style of machine.py: states, transitions with guards, and the requirement each
refused event breaks. The machine does not know which side it plays: the
master feeds it what it sends and receives, the slave's runner and command
feed it what they receive and send (see zeus_fsm/slave/runner.py)::

    idle --command--> asked --runner--> attached --header--> headed --fds--> starting
         --pid--> running --exit--> exited
                  running --ended--> finishing --exit--> exited
    any violation -> broken

`running` has no deadline: a command may run for as long as its client wants
(`zeus console`). What bounds it is the processes: the runner must not end
before it sent the status (a `hangup`, seen through the runner's pidfd: the
datagram socket gives no end-of-file), and once the command itself has ended
(`ended`, through its pidfd), the status must follow within the step timeout.

The spec dialect has no command path (the seed defines no wire for C): there
a slave only logs a refusal (SPAWN-4) and this machine is not used.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

import attrs

from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.errors import (
    BadDescriptor,
    ProtocolError,
    Role,
    StepTimeout,
    UnexpectedEvent,
)
from zeus_fsm.protocol.errors import ChannelClosed as ChannelClosedError
from zeus_fsm.protocol.events import (
    ChannelClosed,
    ClientFdsPassed,
    CommandEnded,
    Deadline,
    FdKind,
    RunnerPassed,
)
from zeus_fsm.protocol.flat import Moved, TableMachine
from zeus_fsm.protocol.messages import CommandPid, ExitStatus, RunnerHeader, SpawnCommand
from zeus_fsm.protocol.tables import RejectionSpec, StateSpec, TransitionSpec, TriggerSpec

CommandEvent = (SpawnCommand | RunnerPassed | RunnerHeader | ClientFdsPassed | CommandPid
                | ExitStatus | CommandEnded | ChannelClosed | Deadline)

#: The payload the runner socket rides on: one byte, as the real master reads one per fd.
RUNNER_PAYLOAD: Final = b"\0"
#: The client's fds, in the order they go over the runner socket.
CLIENT_FDS: Final = ("arguments", "stdout", "stderr")

# --------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------

COMMAND_TRIGGERS: Final[tuple[TriggerSpec, ...]] = (
    TriggerSpec("command", Role.MASTER, "C:<command> sent on the slave's stream"),
    TriggerSpec("runner", Role.SLAVE, "the runner's socket arrived on the slave's stream"),
    TriggerSpec("header", Role.MASTER, "<client_pid>:<argc> sent on the runner socket"),
    TriggerSpec("fds", Role.MASTER,
                "the arguments, stdout/stdin and stderr fds sent on the runner socket"),
    TriggerSpec("pid", Role.SLAVE, "P:<pid>:<slave_pid>: from the command"),
    TriggerSpec("ended", Role.SLAVE, "the command's process exited (its pidfd)"),
    TriggerSpec("exit", Role.SLAVE, "<code>: the command's exit status, from the runner"),
    TriggerSpec("hangup", Role.SLAVE,
                "before the runner socket: the slave's stream ended; after: the runner "
                "process exited"),
    TriggerSpec("timeout", Role.SLAVE, "a bounded wait ran out"),
)

COMMAND_STATES: Final[tuple[StateSpec, ...]] = (
    StateSpec("idle", "no C sent yet"),
    StateSpec("asked", "C sent: waiting for the runner's socket on the slave's stream"),
    StateSpec("attached", "the runner socket arrived: the master sends the header"),
    StateSpec("headed", "the header is sent: the master sends the three fds"),
    StateSpec("starting", "the fds are sent: waiting for the command's P"),
    StateSpec("running", "the command runs (no deadline): waiting for its exit status"),
    StateSpec("finishing", "the command's process ended: waiting for the exit status"),
    StateSpec("exited", "the exit status arrived", terminal=True),
    StateSpec("broken", "a rule was broken; nothing more is accepted", terminal=True),
)

_RUNNER_GUARDS = ("one_fd_passed", "runner_is_datagram_socket", "payload_is_one_nul")

COMMAND_TRANSITIONS: Final[tuple[TransitionSpec, ...]] = (
    TransitionSpec("command", "idle", "asked", "CMD-1",
                   doc="the master asks a connected slave for a command"),
    TransitionSpec("runner", "asked", "attached", "CMD-2", _RUNNER_GUARDS,
                   doc="the runner's socket answers C"),
    TransitionSpec("header", "attached", "headed", "CMD-3",
                   doc="<client_pid>:<argc>, one datagram"),
    TransitionSpec("fds", "headed", "starting", "CMD-3", ("three_fds_passed",),
                   doc="arguments, stdout/stdin, stderr: one fd per message"),
    TransitionSpec("pid", "starting", "running", "CMD-5",
                   ("slave_pid_is_expected", "pid_is_the_command_own"),
                   doc="the command registers: P:<pid>:<slave_pid>:"),
    TransitionSpec("exit", "running", "exited", "CMD-7",
                   doc="the exit status, relayed to the client"),
    TransitionSpec("ended", "running", "finishing", "CMD-7",
                   doc="the command's process is gone: its status must follow"),
    TransitionSpec("exit", "finishing", "exited", "CMD-7",
                   doc="the exit status after the command's end"),
    TransitionSpec("ended", "exited", "=", "CMD-7",
                   doc="the command's end, seen after its status"),
    TransitionSpec("hangup", "exited", "=", "CMD-8",
                   doc="the runner exits once the status is sent"),
)

COMMAND_REJECTIONS: Final[tuple[RejectionSpec, ...]] = (
    # The waits, each with the requirement of the step that did not come.
    RejectionSpec("timeout", "asked", "CMD-2", "no runner socket arrived after C"),
    RejectionSpec("hangup", "asked", "CMD-2",
                  "the slave's stream ended before the runner socket arrived"),
    RejectionSpec("timeout", "starting", "CMD-5", "no P arrived from the command"),
    RejectionSpec("timeout", "finishing", "CMD-7",
                  "no exit status arrived after the command ended"),
    RejectionSpec("hangup", "*", "CMD-8", "the runner ended before it sent the exit status"),
    # Everything in its place, once.
    RejectionSpec("command", "*", "CMD-1", "C was already sent for this command"),
    RejectionSpec("runner", "*", "CMD-2", "a runner socket that no C asked for"),
    RejectionSpec("header", "*", "CMD-3", "the header goes once, right after the runner socket"),
    RejectionSpec("fds", "*", "CMD-3", "the three fds go once, right after the header"),
    RejectionSpec("pid", "*", "CMD-5", "the command's P comes once, after the three fds"),
    RejectionSpec("exit", "*", "CMD-7", "the exit status comes once, after the command's P"),
    RejectionSpec("ended", "*", "CMD-5", "the command ended before its P"),
    RejectionSpec("*", "broken", "CMD-1", "the command is already broken"),
)

#: What a `timeout` with no row means: nothing of the slave's is awaited (idle,
#: attached, headed: the master's own turn; running: no deadline; exited).
_UNEXPECTED_TIMEOUT: Final = "no step of the command is waiting"

_EVENT_TRIGGERS: Final[dict[type[Any], str]] = {
    SpawnCommand: "command",
    RunnerPassed: "runner",
    RunnerHeader: "header",
    ClientFdsPassed: "fds",
    CommandPid: "pid",
    CommandEnded: "ended",
    ExitStatus: "exit",
    ChannelClosed: "hangup",
    Deadline: "timeout",
}
_ERROR_CLASSES: Final[dict[str, type[ProtocolError]]] = {
    "timeout": StepTimeout,
    "hangup": ChannelClosedError,
}


def command_trigger_of(event: CommandEvent) -> str:
    return _EVENT_TRIGGERS[type(event)]


def rejection_for(state: str, trigger: str) -> RejectionSpec | None:
    """The row refusing `trigger` in `state`: the exact row, then the state's `*` row
    (broken), then the trigger's `*` row; None where a transition allows it, or for a
    `timeout` while nothing is awaited."""
    return Command.rejection_in(state, trigger)


# --------------------------------------------------------------------------
# Checks shared with the slave handshake (machine.py's `runner` transition)
# --------------------------------------------------------------------------


def check_runner_socket(event: RunnerPassed) -> None:
    """CMD-2: one fd, an AF_UNIX SOCK_DGRAM socket, on exactly one NUL byte."""
    check_one_fd(event)
    check_runner_kind(event)
    check_runner_payload(event)


def check_one_fd(event: RunnerPassed) -> None:
    if len(event.kinds) != 1:
        what = "no fd" if not event.kinds else f"{len(event.kinds)} fds"
        raise BadDescriptor(f"expected exactly one fd (the runner's socket), got {what}",
                            culprit=Role.SLAVE, requirement="CMD-2")


def check_runner_kind(event: RunnerPassed) -> None:
    if event.kinds[0] is not FdKind.UNIX_DGRAM:
        raise BadDescriptor(f"expected the runner's {FdKind.UNIX_DGRAM.value}, got: "
                            f"{event.kinds[0].value}", culprit=Role.SLAVE,
                            requirement="CMD-2")


def check_runner_payload(event: RunnerPassed) -> None:
    # The real master reads one byte per fd: a second byte stays in the stream and
    # the next command's fd read finds it without an fd.
    if event.payload != RUNNER_PAYLOAD:
        raise UnexpectedEvent("the runner socket must come on exactly one NUL byte",
                              culprit=Role.SLAVE, requirement="CMD-2", data=event.payload)


# --------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------


@attrs.define
class CommandExpectation:
    """What the master knows before the command's P: the slave it sent C to."""

    slave_pid: int | None = None


class Command(TableMachine):
    """One command's exchange, as either side sees it (protocol/flat.py runs the tables).

    Feed events with `handle()`; read `state`, `pid` and `status`. A broken rule
    raises a ProtocolError and leaves the machine `broken`.
    """

    STATES: ClassVar = COMMAND_STATES
    TRANSITIONS: ClassVar = COMMAND_TRANSITIONS
    REJECTIONS: ClassVar = COMMAND_REJECTIONS
    TRIGGERS: ClassVar = COMMAND_TRIGGERS
    ERROR_CLASSES: ClassVar = _ERROR_CLASSES
    STATE_PREFIX: ClassVar = "command"
    INITIAL: ClassVar = "idle"
    NO_ROW: ClassVar = _UNEXPECTED_TIMEOUT

    def __init__(self, expect: CommandExpectation | None = None,
                 on_transition: Moved | None = None) -> None:
        self.expect = expect or CommandExpectation()
        #: SO_PEERCRED of the runner socket: the runner process, watched for its end.
        self.runner_pid: int | None = None
        self.header: RunnerHeader | None = None
        #: The command's pid, from its P.
        self.pid: int | None = None
        #: The command's exit status, once it arrived.
        self.status: int | None = None
        super().__init__(on_transition)

    def trigger_of(self, event: CommandEvent) -> str:
        return command_trigger_of(event)

    def wire_of(self, event: CommandEvent) -> bytes | None:
        if isinstance(event, RunnerHeader | CommandPid | ExitStatus):
            return command_wire.encode(event)
        if isinstance(event, SpawnCommand):
            return b"C:" + event.identifier.encode("utf-8") + b"\0"
        return None

    def record(self, event: CommandEvent) -> None:
        if isinstance(event, RunnerPassed):
            self.runner_pid = event.peer_pid
        elif isinstance(event, RunnerHeader):
            self.header = event
        elif isinstance(event, CommandPid):
            self.pid = event.pid
        elif isinstance(event, ExitStatus):
            self.status = event.code

    # ---- guards: each returns True or raises the ProtocolError it found ------

    def _guard_one_fd_passed(self, event: RunnerPassed) -> bool:
        check_one_fd(event)
        return True

    def _guard_runner_is_datagram_socket(self, event: RunnerPassed) -> bool:
        check_runner_kind(event)
        return True

    def _guard_payload_is_one_nul(self, event: RunnerPassed) -> bool:
        check_runner_payload(event)
        return True

    def _guard_three_fds_passed(self, event: ClientFdsPassed) -> bool:
        if len(event.kinds) != len(CLIENT_FDS):
            raise BadDescriptor(f"expected {len(CLIENT_FDS)} fds ({', '.join(CLIENT_FDS)}), "
                                f"got {len(event.kinds)}", culprit=Role.MASTER,
                                requirement="CMD-3")
        return True

    def _guard_slave_pid_is_expected(self, event: CommandPid) -> bool:
        wanted = self.expect.slave_pid
        if wanted is not None and event.slave_pid != wanted:
            raise UnexpectedEvent(f"the command's P names slave {event.slave_pid}; C went to "
                                  f"slave {wanted}", culprit=Role.SLAVE, requirement="CMD-5",
                                  data=command_wire.encode(event))
        return True

    def _guard_pid_is_the_command_own(self, event: CommandPid) -> bool:
        for name, pid in (("slave", self.expect.slave_pid), ("runner", self.runner_pid)):
            if pid is not None and event.pid == pid:
                raise UnexpectedEvent(f"the command's P gives the {name}'s pid {pid}; the "
                                      "command is a process of its own",
                                      culprit=Role.SLAVE, requirement="CMD-5",
                                      data=command_wire.encode(event))
        return True
