"""Commands run by the master: `C` to a connected slave, then the runner socket's exchange.

Every step is the protocol's `Command` machine (protocol/command.py); this module
holds the OS handles of each command and does the I/O the machine asks for. The
Master's poll loop calls in: which fds to watch, which deadlines run, and what
arrived. Where the real master waits for ever (a slave that never answers C, a
runner that dies without a status) each wait here is bounded and ends in a named
error; where it leaks two fds per command and dies on a malformed P, here every fd
of a command is closed when it ends and a bad P is refused with its requirement.

C goes to a slave one at a time (CMD-1): a command asked for while that slave
still awaits a runner socket waits in a queue, and goes as soon as it arrived.
"""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import attrs

from zeus_fsm.master.observe import Channel, CommandMoved, Direction, ObservedEvent, WireEvent
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.command import Command, CommandEvent, CommandExpectation
from zeus_fsm.protocol.errors import ChannelClosed as ChannelClosedError
from zeus_fsm.protocol.errors import ProtocolError, Role, UnexpectedEvent
from zeus_fsm.protocol.events import (
    ChannelClosed,
    ClientFdsPassed,
    CommandEnded,
    Deadline,
    FdKind,
    RunnerPassed,
)
from zeus_fsm.protocol.messages import CommandPid, ExitStatus, RunnerHeader, SpawnCommand
from zeus_fsm.protocol.tables import TransitionSpec
from zeus_fsm.transport.fds import (
    Clock,
    adopt_socket,
    close_quietly,
    fd_kind,
    peer_credentials,
    receive,
    send_bounded,
    send_polled,
    send_with_fds,
)
from zeus_fsm.transport.processes import (
    ancestors_of,
    parent_pid_of,
    process_handle,
    signal_process,
)

if TYPE_CHECKING:
    import socket

#: Datagrams read from one runner socket per loop round.
_READS_PER_ROUND = 16
#: Machine states that wait for the slave's side, bounded by the step timeout. `asked`
#: (the runner socket after C) is not among them: that wait is the slave handshake's
#: own (its `command` phase), whose CMD-2 stops the slave and, with it, this command.
_BOUNDED = frozenset({"starting", "finishing"})


@attrs.define(eq=False)
class CommandRun:
    """One command: read it, do not write it. `status` is set once it exited; `error`
    when a rule was broken (then `status` stays None)."""

    run_id: int
    slave: SlaveSession
    name: str
    client_pid: int
    argc: int
    machine: Command
    #: The client's fds (arguments, stdout/stdin, stderr): owned here until sent.
    client_fds: tuple[int, int, int] | None
    runner: socket.socket | None = None
    runner_exit: int | None = None  # pidfd of the runner (SO_PEERCRED of its socket)
    command_exit: int | None = None  # pidfd of the command (its P)
    decoder: command_wire.RunnerDecoder = attrs.Factory(command_wire.RunnerDecoder)
    deadline: Clock | None = None
    deadline_for: str = ""
    error: ProtocolError | None = None
    started_at: float = attrs.Factory(time.monotonic)

    @property
    def pid(self) -> int | None:
        return self.machine.pid

    @property
    def status(self) -> int | None:
        return self.machine.status

    @property
    def finished(self) -> bool:
        return self.error is not None or self.machine.state == "exited"

    def describe(self) -> str:
        return f"command {self.name!r} #{self.run_id} on {self.slave.describe()}"


class Commands:
    """The commands of one Master: started, waiting for their runner, running."""

    def __init__(self, step_timeout: float, emit: Callable[[ObservedEvent], None] | None,
                 on_change: Callable[[], None]) -> None:
        self.step_timeout = step_timeout
        self._emit = emit
        self._on_change = on_change  # a watched fd opened or closed: the loop re-polls
        self._next_id = 1
        self.live: list[CommandRun] = []
        #: Per slave session: commands whose C is not sent yet (CMD-1: one at a time).
        self._queued: dict[int, deque[CommandRun]] = {}
        #: Per slave session: the command whose runner socket is awaited.
        self._asked: dict[int, CommandRun] = {}

    # ---- starting ---------------------------------------------------------------------

    def start(self, slave: SlaveSession, name: str, client_pid: int, argc: int,
              client_fds: tuple[int, int, int]) -> CommandRun:
        """Queue a command for a connected zeus slave (C goes when the slave is free)."""
        if not slave.dialect.runs_commands:
            for fd in client_fds:
                close_quietly(fd)
            raise UnexpectedEvent(f"the {slave.dialect.name} dialect has no command wire",
                                  culprit=Role.MASTER, requirement="SPAWN-4")
        SpawnCommand(name)  # ValueError for a name no slave could be asked for
        machine = Command(CommandExpectation(slave_pid=slave.pid),
                          on_transition=partial(self._moved, self._next_id, slave, name))
        run = CommandRun(self._next_id, slave, name, client_pid, argc, machine, client_fds)
        self._next_id += 1
        self.live.append(run)
        self._queued.setdefault(slave.session_id, deque()).append(run)
        self._send_next(slave)
        return run

    def _send_next(self, slave: SlaveSession) -> None:
        """C for the next queued command of `slave`, if none awaits its runner socket."""
        queue = self._queued.get(slave.session_id)
        while queue and slave.session_id not in self._asked:
            run = queue.popleft()
            if slave.channel is None or "command" not in slave.handshake.allowed_triggers():
                self._fail(run, UnexpectedEvent(
                    f"{run.describe()}: the slave is {slave.handshake.phase}, not connected",
                    culprit=Role.MASTER, requirement="CMD-1"))
                continue
            message = SpawnCommand(run.name)
            data = slave.dialect.encode(message)
            slave.feed(message)  # the handshake now awaits the runner socket
            self._handle(run, message)
            try:
                send_bounded(slave.channel, data, self.step_timeout)
            except OSError as error:  # the slave does not read, or is gone: its fault
                self._fail(run, ChannelClosedError(
                    f"C could not be sent to {slave.describe()}: {error}",
                    culprit=Role.SLAVE, requirement="CMD-2", data=data))
                return
            self._asked[slave.session_id] = run
            self._arm(run)

    # ---- what arrives -------------------------------------------------------------------

    def runner_arrived(self, slave: SlaveSession, received_fd: int, payload: bytes) -> None:
        """An fd on `slave`'s stream while it awaits a runner socket: judge it, then send
        the header and the client's fds (all before any read, as the real master does)."""
        run = self._asked.pop(slave.session_id)
        kind = fd_kind(received_fd)
        sock = adopt_socket(received_fd) if kind is FdKind.UNIX_DGRAM else None
        creds = peer_credentials(sock) if sock is not None else None
        event = RunnerPassed((kind,), payload, creds.pid if creds else None,
                             creds.uid if creds else None)
        try:
            # The slave's handshake (shared with the checker): CMD-2's guards, then connected.
            slave.connection.runner_passed(event.kinds, event.payload, event.peer_pid,
                                           event.peer_uid)
            runner_exit = self._own_handle(creds.pid if creds else None,
                                           slave.peer_pid or slave.pid, "CMD-2",
                                           "the runner socket", "the slave", child=True)
        except ProtocolError as error:
            close_quietly(sock if sock is not None else received_fd)
            self._fail(run, error)
            raise
        self._handle(run, event)
        assert sock is not None  # the guards let only a datagram socket through
        run.runner, run.runner_exit = sock, runner_exit
        self._on_change()
        self._send_to_runner(run)
        self._send_next(slave)

    def _send_to_runner(self, run: CommandRun) -> None:
        assert run.runner is not None and run.client_fds is not None
        header = RunnerHeader(run.client_pid, run.argc)
        self._handle(run, header)
        fds, run.client_fds = run.client_fds, None
        try:
            send_polled(run.runner, command_wire.encode(header), self.step_timeout)
            self._wire(run, Direction.SENT, command_wire.encode(header))
            kinds = tuple(fd_kind(fd) for fd in fds)
            self._handle(run, ClientFdsPassed(kinds))
            for fd, kind in zip(fds, kinds, strict=True):
                send_with_fds(run.runner, b"\0", [fd])
                self._wire(run, Direction.SENT, b"\0", (kind,))
        except OSError as error:  # the runner is gone already: its pidfd will say so
            if run.error is None and not run.machine.finished:
                self._fail(run, UnexpectedEvent(f"the runner socket refused the header or "
                                                f"fds: {error}", culprit=Role.SLAVE,
                                                requirement="CMD-8"))
        finally:
            for fd in fds:
                close_quietly(fd)  # the runner has its copies: ours would hold the pipes open
        self._arm(run)

    def watched(self) -> dict[int, Callable[[], None]]:
        out: dict[int, Callable[[], None]] = {}
        for run in self.live:
            if run.runner is not None:
                out[run.runner.fileno()] = partial(self._on_runner, run)
            if run.runner_exit is not None:
                out[run.runner_exit] = partial(self._on_runner_exit, run)
            if run.command_exit is not None:
                out[run.command_exit] = partial(self._on_command_exit, run)
        return out

    def deadlines(self) -> list[CommandRun]:
        return [run for run in self.live if run.deadline is not None]

    def expire(self, run: CommandRun) -> None:
        assert run.deadline is not None
        seconds, run.deadline = run.deadline.seconds, None
        self._guarded(run, Deadline(seconds))

    def slave_failed(self, slave: SlaveSession) -> None:
        """The slave stopped or broke: what still waits on it can never get its runner."""
        waiting = [*self._queued.pop(slave.session_id, ())]
        asked = self._asked.pop(slave.session_id, None)
        if asked is not None:
            waiting.insert(0, asked)
        for run in waiting:
            error = slave.errors[0] if slave.errors else None
            self._fail(run, UnexpectedEvent(
                f"{run.describe()}: the slave ended before its runner socket arrived"
                + (f" ({error.requirement})" if error else ""), culprit=Role.SLAVE,
                requirement="CMD-2"))

    def end(self, run: CommandRun) -> None:
        """Its client went away: SIGTERM to the command (through its pidfd only), as its
        runner would within a second (CMD-9); its status still ends it here."""
        if run.command_exit is not None:
            signal_process(run.command_exit, signal.SIGTERM)

    def close(self) -> None:
        for run in list(self.live):
            if not run.finished:
                self._fail(run, UnexpectedEvent(f"{run.describe()}: the master stopped",
                                                culprit=Role.MASTER, requirement="CMD-7"))
            self._release(run)

    # ---- the handlers ----------------------------------------------------------------

    def _on_runner(self, run: CommandRun) -> None:
        assert run.runner is not None
        for _ in range(_READS_PER_ROUND):
            received = receive(run.runner, 0.0)
            if received is None:
                return
            received.close()  # a runner passes no fds to the master
            self._wire(run, Direction.RECEIVED, received.data)
            try:
                messages = run.decoder.feed(received.data)
            except ProtocolError as error:
                for message in error.salvaged:
                    if isinstance(message, CommandPid | ExitStatus):
                        self._guarded(run, message)
                self._fail(run, error)
                return
            for message in messages:
                self._guarded(run, message)
                if run.finished:
                    return

    def _on_runner_exit(self, run: CommandRun) -> None:
        """The runner ended: what it sent is queued; after that, a missing status is CMD-8."""
        self._on_runner(run)
        close_quietly(run.runner_exit)
        run.runner_exit = None
        self._on_change()
        self._guarded(run, ChannelClosed())  # CMD-8 unless the status came first

    def _on_command_exit(self, run: CommandRun) -> None:
        close_quietly(run.command_exit)
        run.command_exit = None
        self._on_change()
        self._guarded(run, CommandEnded())

    # ---- the machine -------------------------------------------------------------------

    def _guarded(self, run: CommandRun, event: CommandEvent) -> None:
        if run.finished:
            return
        try:
            self._handle(run, event)
        except ProtocolError as error:
            self._fail(run, error)
            return
        if isinstance(event, CommandPid) and run.command_exit is None:
            try:  # its pidfd, once it is proven below the slave: then it may be killed
                slave = run.slave.peer_pid or run.slave.pid
                run.command_exit = self._own_handle(event.pid, slave, "CMD-5",
                                                    "the command's P", "the slave",
                                                    child=False)
            except ProtocolError as error:
                self._fail(run, error)
                return
            self._on_change()
        self._arm(run)
        if run.machine.state == "exited":
            # The status is in: the runner has nothing more to say, its process and the
            # command's are the slave's to reap; every fd of the command closes now.
            self._release(run)

    def _handle(self, run: CommandRun, event: CommandEvent) -> None:
        run.machine.handle(event)

    def _arm(self, run: CommandRun) -> None:
        state = run.machine.state
        if state in _BOUNDED:
            if run.deadline_for != state:
                run.deadline, run.deadline_for = Clock(self.step_timeout), state
        else:
            run.deadline, run.deadline_for = None, ""

    def _fail(self, run: CommandRun, error: ProtocolError) -> None:
        """A broken rule ends the command: its runner and command (proven children, held
        by pidfd, so no other process can be hit) are killed, every fd closed."""
        if run.error is None:
            run.error = error
        for handle in (run.command_exit, run.runner_exit):
            if handle is not None:
                signal_process(handle, signal.SIGKILL)
        self._release(run)

    @staticmethod
    def _own_handle(pid: int | None, owner: int | None, requirement: str, what: str,
                    owner_name: str, child: bool) -> int | None:
        """A pidfd of `pid` if it is `owner`'s child (`child`) or anywhere below it (a
        command may be forked by the runner or further down: CMD-5 says "below the
        slave"); None if it is gone already. Anything else is refused: the master must
        never signal a process that is not in its own tree."""
        if pid is None:
            return None
        handle = process_handle(pid)
        if handle is None:
            return None  # it ended already: its status (or its absence) will tell
        parent = parent_pid_of(pid)  # None: it ended meanwhile; 0: pid 1, no parent
        chain = [] if parent is None else [parent] if child else [parent, *ancestors_of(parent)]
        if owner is not None and parent is not None and owner not in chain:
            close_quietly(handle)
            whose = f"whose parent is {parent}" if child else f"whose ancestors are {chain}"
            raise UnexpectedEvent(f"{what} names pid {pid}, {whose}, not "
                                  f"{'' if child else 'below '}{owner_name} ({owner})",
                                  culprit=Role.SLAVE, requirement=requirement)
        return handle

    def _release(self, run: CommandRun) -> None:
        close_quietly(run.runner)
        close_quietly(run.runner_exit)
        close_quietly(run.command_exit)
        if run.client_fds is not None:
            for fd in run.client_fds:
                close_quietly(fd)
        run.runner = None
        run.runner_exit = run.command_exit = None
        run.client_fds = None
        run.deadline, run.deadline_for = None, ""
        if run in self.live:
            self.live.remove(run)
        self._on_change()

    def _wire(self, run: CommandRun, direction: Direction, data: bytes,
              fds: tuple[FdKind, ...] = ()) -> None:
        if self._emit is not None:
            self._emit(WireEvent(time.monotonic(), run.slave.ref(), direction, Channel.RUNNER,
                                 data, fds))

    def _moved(self, run_id: int, slave: SlaveSession, name: str, before: str, trigger: str,
               after: str, spec: TransitionSpec) -> None:
        if self._emit is not None:
            self._emit(CommandMoved(time.monotonic(), slave.ref(), run_id, name, before,
                                    trigger, after, spec))

