"""The master: starts the root slave, accepts registrations, spawns children, stops them.

Usage::

    with Master([sys.executable, "-m", "zeus_fsm.slave", "--plan", PLAN], "zeus") as master:
        root = master.boot_root()             # SlaveSession, connected or failed
        child = master.spawn(root, "child_ok")
        master.wait_files(child, lambda files: EXPECTED <= set(files), timeout=2.0)
    # close(): every slave stopped (SIGTERM, then SIGKILL), the root reaped, every fd closed

One event loop (poll over the master socket, every slave socket, every zeus
pipe and every slave's pidfd) runs only inside the Master's calls (`boot_root`,
`spawn`, `wait_*`, `run`, `close`); no threads. Every decision about the
handshake is the Handshake's (machine.py): the loop only reads, feeds events,
and acts on what the machine and the lifecycle say. A ProtocolError from one
slave is recorded on its session (`session.errors`), that slave is stopped and
its fds closed, and the master carries on with the others. Registrations
nobody asked for are recorded in `master.strays`.

The master forgets what is over, so that it can run for days: a stopped
child leaves `master.sessions` at once (the caller keeps its own reference
if it wants one), and `master.errors` and `master.strays` keep only the
latest few (ERRORS_KEPT, STRAYS_KEPT).

Registrations on the shared master socket do not say which request they
answer: the slave proves it. A child's socket was made by a process whose OS
parent (SO_PEERCRED pid, then /proc) is the slave that was sent S; a
registration whose maker descends from no pending spawn's parent is a stray
(SPAWN-5), refused, and the pending spawn still completes. When the maker
cannot be read (no socket, or it is gone) or lies outside the slaves' process
group (then the machine refuses it, PID-2), nothing is proven and the oldest
pending request takes it, as it is the one that can be blamed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING

from zeus_fsm.master.commands import CommandRun, Commands
from zeus_fsm.master.observe import (
    Channel,
    Direction,
    ErrorRecorded,
    ObservedEvent,
    Observer,
    ProcessAction,
    ProcessEvent,
    WireEvent,
)
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.protocol.dialects import Dialect, get_dialect
from zeus_fsm.protocol.errors import ChannelClosed as ChannelClosedError
from zeus_fsm.protocol.errors import ProtocolError, Role, UnexpectedEvent
from zeus_fsm.protocol.events import UNIX_SOCKETS, FdKind
from zeus_fsm.protocol.machine import Expectation
from zeus_fsm.protocol.messages import ActionResult, SpawnSlave
from zeus_fsm.transport.fds import (
    Clock,
    adopt_socket,
    close_quietly,
    master_socketpair,
    peer_credentials,
    read_pipe,
    receive,
    send_bounded,
    set_nonblocking,
    wait_readable,
)
from zeus_fsm.transport.processes import (
    parent_pid_of,
    process_group_members,
    process_group_of,
    process_handle,
    signal_process,
    start_slave,
)

if TYPE_CHECKING:  # sockets are the transport's business; here only a type
    import socket

__all__ = ["Master", "SlaveSession"]

#: Reads per fd per loop round: enough to batch a burst, small enough to stay fair.
_READS_PER_ROUND = 256
#: How long a SIGKILLed process may take to be confirmed gone.
_KILL_CONFIRM = 5.0
#: How many recorded errors and strays the master keeps (the latest), so that a master
#: that runs for days holds bounded memory however many slaves it has stopped.
ERRORS_KEPT = 256
STRAYS_KEPT = 64


class Master:
    """Drives slaves of one dialect through the handshake. See the module doc.

    `command` starts the root slave; it inherits the master socket as
    ZEUS_MASTER_FD. `step_timeout` bounds each step of a handshake,
    `drain_timeout` how long a crashed slave may take to close its channel,
    `kill_grace` the time between SIGTERM and SIGKILL. `observer` receives
    every event in observe.py as it happens.
    """

    def __init__(self, command: Sequence[str], dialect: Dialect | str = "spec", *,
                 step_timeout: float = 5.0, drain_timeout: float = 2.0,
                 kill_grace: float = 1.0, observer: Observer | None = None,
                 env: Mapping[str, str] | None = None, cwd: str | None = None) -> None:
        if not command:
            raise ValueError("the root slave's command is empty")
        self.command = list(command)
        self.dialect = get_dialect(dialect) if isinstance(dialect, str) else dialect
        self.step_timeout = step_timeout
        self.drain_timeout = drain_timeout
        self.kill_grace = kill_grace
        self.observer = observer
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        #: The sessions the master drives, in creation order: every slave not yet stopped,
        #: and the root (booted again in the same session). A stopped child leaves.
        self.sessions: list[SlaveSession] = []
        self.root: SlaveSession | None = None
        self._strays: deque[SlaveSession] = deque(maxlen=STRAYS_KEPT)
        self._errors: deque[ProtocolError] = deque(maxlen=ERRORS_KEPT)
        self._next_id = 1
        self._pending: list[SlaveSession] = []  # started, socket not yet received
        self._running: list[SlaveSession] = []  # started and not yet stopped (pruned lazily)
        self._sock, self._their_end = master_socketpair()
        self._fd_closes = 0  # bumped when a watched fd closes: its number may be reused
        self._closed = False
        self.commands = Commands(step_timeout, self._emitter(), self._fds_changed)

    # ---- context manager ------------------------------------------------------

    def __enter__(self) -> Master:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # ---- the API --------------------------------------------------------------

    @property
    def strays(self) -> list[SlaveSession]:
        """The latest STRAYS_KEPT registrations nobody asked for (SPAWN-5), with their error."""
        return list(self._strays)

    @property
    def errors(self) -> list[ProtocolError]:
        """The latest ERRORS_KEPT errors recorded, on sessions and strays, in the order
        they were recorded."""
        return list(self._errors)

    def boot_root(self, timeout: float | None = None) -> SlaveSession:
        """Start the root slave and wait (bounded by step_timeout per step) for its result.

        A stopped root may be booted again: the same session is reset and reused.
        """
        self._check_open()
        if self.root is not None and self.root.lifecycle.live:
            raise UnexpectedEvent("the root slave is already running", culprit=Role.MASTER,
                                  requirement="SPAWN-1",
                                  state=f"lifecycle {self.root.lifecycle.state}")
        expect = Expectation(identifier=self.dialect.root_identifier,
                             parent_pid=0 if self.dialect.has_parent_pid else None,
                             uid=os.getuid())  # pid and group: once the process is started
        if self.root is not None:
            root = self.root
            root.restart(expect)  # lifecycle `reset`: the same session, a new process
        else:
            root = self._new_session(self.dialect.root_identifier, None, expect)
        process = start_slave(self.command, self.env, self._their_end.fileno(), cwd=self.cwd)
        root.process, root.pid = process, process.pid
        expect.pid = expect.group = process.pid  # the root leads the slaves' process group
        root.started_at = time.monotonic()
        root.process_fd = process_handle(process.pid)
        self.root = root
        self._emit(ProcessEvent(root.started_at, root.ref(), ProcessAction.STARTED, process.pid,
                                " ".join(self.command)))
        root.lifecycle.fire("start")
        if root not in self._running:
            self._running.append(root)
        self._pending.append(root)
        self._settle(root)
        self.wait_result(root, timeout)
        return root

    def spawn(self, parent: SlaveSession, identifier: str,
              timeout: float | None = None) -> SlaveSession:
        """Send S to a connected slave and wait (bounded) for the child's registration and result.

        Raises ProtocolError (culprit master, SPAWN-1) if the parent's Handshake
        does not allow S now; the child's own faults are recorded on the child.
        With `timeout`, it may return a child still booting: later calls that run
        the loop keep driving it.
        """
        self._check_open()
        message = SpawnSlave(identifier)  # ValueError for an identifier no slave could get
        if parent.channel is None or "spawn" not in parent.handshake.allowed_triggers():
            raise UnexpectedEvent(f"S:{identifier} to {parent.describe()}, which is not connected",
                                  culprit=Role.MASTER, requirement="SPAWN-1",
                                  state=parent.handshake.describe_state())
        data = self.dialect.encode(message)
        parent.feed(message)  # the Handshake records S (allowed: checked above)
        started_at = time.monotonic()
        try:
            send_bounded(parent.channel, data, self.step_timeout)
            failure = None
        except OSError as error:  # TimeoutError included: the parent does not read
            failure = ChannelClosedError(f"S could not be sent to {parent.describe()}: {error}",
                                         culprit=Role.SLAVE, requirement="SPAWN-2", data=data)
        else:
            if self.observer is not None:
                self._emit(WireEvent(time.monotonic(), parent.ref(), Direction.SENT,
                                     Channel.SLAVE, data))
        # The child's session is built while the slave forks (it costs a Handshake):
        # no registration can be read before the loop runs below.
        expect = Expectation(identifier=identifier,
                             parent_pid=parent.pid if self.dialect.has_parent_pid else None,
                             uid=os.getuid(), group=self._group())
        child = self._new_session(identifier, parent, expect)
        child.started_at = started_at
        child.lifecycle.fire("start")
        self._running.append(child)
        if failure is not None:
            self._record(child, failure)
            self._stop(child)
            if self.dialect.files_on_pipe and parent.lifecycle.live:
                # A stream may now hold the first part of S: the parent would read the next
                # S as garbage. It has not read its socket for a whole step: stop it.
                with self._guarded(parent):
                    raise ChannelClosedError(
                        f"{parent.describe()} did not read its socket for "
                        f"{self.step_timeout:g} s; part of S may be in its stream",
                        culprit=Role.SLAVE, requirement="SPAWN-2",
                        state=parent.handshake.describe_state(), data=data)
            return child
        self._pending.append(child)
        self._settle(child)
        self.wait_result(child, timeout)
        return child

    def start_command(self, slave: SlaveSession, name: str, client_pid: int,
                      client_fds: tuple[int, int, int], argc: int) -> CommandRun:
        """Run command `name` on a connected zeus slave for the client `client_pid`.

        `client_fds` (arguments, stdout/stdin, stderr) become the master's: they go to
        the command's runner and are closed here once sent, or when the command fails.
        Returns at once; the loop (`run`, `wait_command`) drives the rest, each step
        bounded by step_timeout except the command's own running time. A broken rule
        of the slave's stops that slave; the command's own faults are `run.error`.
        """
        self._check_open()
        run = self.commands.start(slave, name, client_pid, argc, client_fds)
        if run.error is not None and run.error.culprit is Role.SLAVE:
            failure = run.error
            with self._guarded(slave):  # C could not reach it: the slave is stopped
                raise failure
        self._settle(slave)  # C sent: the slave's handshake now owes the runner socket
        return run

    def end_command(self, run: CommandRun) -> None:
        """The command's client went away: end the command (its status still comes)."""
        self.commands.end(run)

    def wait_command(self, run: CommandRun, timeout: float | None = None,
                     started: bool = False) -> bool:
        """Run the loop until the command has finished (or, with `started`, has its pid
        or has failed); at most `timeout` seconds. True if that happened."""
        def done() -> bool:
            return run.finished or (started and run.pid is not None)

        return self.run(done, timeout)

    def wait_result(self, session: SlaveSession,
                    timeout: float | None = None) -> ActionResult | None:
        """Run the loop until the session has its result or has failed.

        Each handshake step is bounded by step_timeout, so this returns without
        `timeout` too. None means no result: see `session.errors`.
        """
        self.run(lambda: session.result is not None or not session.waiting_for_step, timeout)
        return session.result

    def wait_files(self, session: SlaveSession,
                   predicate: Callable[[list[bytes]], bool] | None = None,
                   timeout: float | None = None) -> bool:
        """Run the loop until `predicate(session.loaded_files)` holds, or (no predicate)
        until the session's loaded-files channel has closed. At most `timeout`
        seconds (default step_timeout). True if the condition was met."""
        def done() -> bool:
            if predicate is not None:
                return predicate(session.loaded_files)
            return not session.lifecycle.live or not session.handshake.files_open

        limit = self.step_timeout if timeout is None else timeout
        return self.run(done, limit) or done()

    def wait_stopped(self, session: SlaveSession, timeout: float | None = None) -> bool:
        """Run the loop until the session is stopped (a crashed slave drains first)."""
        limit = self.drain_timeout + self.kill_grace if timeout is None else timeout
        return self.run(lambda: session.lifecycle.state == "stopped", limit)

    def run(self, until: Callable[[], bool], timeout: float | None = None,
            wake: Sequence[int] = (),
            handlers: Mapping[int, Callable[[], None]] | None = None) -> bool:
        """The event loop: process slave traffic until `until()` or `timeout` seconds.

        With no timeout the wait is bounded by the sessions' own deadlines: it
        raises RuntimeError rather than wait on nothing forever. `wake`: the
        caller's own fds (a signal or a file watcher); one becoming readable only
        makes the loop check `until()` again, so `until()` should look at them.
        `handlers`: the caller's fds with what to do when one is readable (the client
        server of `zeus-fsm start`), served in the same poll as the slaves.
        """
        self._check_open()
        overall = Clock(timeout) if timeout is not None else None
        while True:
            if until():
                return True
            clocks = self._clocks()
            due = [clock for clock in clocks if clock.expired]
            late = overall is not None and overall.expired
            watched = self._watched()
            for fd in wake:
                watched.setdefault(fd, _nothing)
            for fd, handler in (handlers or {}).items():
                watched.setdefault(fd, handler)
            if due or late:
                wait = 0.0  # read what is already there before judging a deadline
            else:
                waits = [clock.remaining() for clock in clocks]
                if overall is not None:
                    waits.append(overall.remaining())
                if not waits:
                    raise RuntimeError("nothing bounds this wait: pass a timeout")
                wait = min(waits)
            ready = wait_readable(watched, wait)
            if not self._dispatch(ready, watched):
                continue  # an fd closed mid-round: poll again before judging deadlines
            if due:
                self._judge_deadlines(due)
            if late:
                return until()

    def _clocks(self) -> list[Clock]:
        """Every bounded wait running now: the slaves' steps and the commands'."""
        clocks = [s.deadline for s in self._live() if s.deadline is not None]
        return clocks + [r.deadline for r in self.commands.deadlines() if r.deadline]

    def _judge_deadlines(self, due: list[Clock]) -> None:
        """Each wait that had run out before this round's last read, and is still the
        one running (the round may have ended it), is judged."""
        for session in list(self._live()):
            if any(session.deadline is clock for clock in due):
                self._expire(session)
        for command in self.commands.deadlines():
            if any(command.deadline is clock for clock in due):
                self.commands.expire(command)

    def stop(self, session: SlaveSession) -> None:
        """Stop one slave now: SIGTERM, SIGKILL after kill_grace, reap the root, close its fds."""
        with self._guarded(session):
            self._stop(session)

    def close(self) -> None:
        """Stop everything: crashed slaves may finish draining (bounded), then every live
        slave is stopped, deepest first, the root last (its process group is killed as a
        last resort before it is reaped). Every fd is closed. Idempotent."""
        if self._closed:
            return
        self.commands.close()
        try:
            if any(s.draining for s in self._live()):
                self.run(lambda: not any(s.draining for s in self._live()),
                         self.drain_timeout + self.kill_grace)
        finally:
            for session in sorted(self._live(), key=lambda s: s.depth, reverse=True):
                if session is not self.root:
                    with self._guarded(session):
                        self._stop(session)
            self._kill_unknown_slaves()
            self._let_root_reap()
            if self.root is not None and self.root.lifecycle.live:
                with self._guarded(self.root):
                    self._stop(self.root, last_resort=True)
            close_quietly(self._sock)
            close_quietly(self._their_end)
            self._closed = True

    # ---- sessions ----------------------------------------------------------------

    def _new_session(self, identifier: str, parent: SlaveSession | None,
                     expect: Expectation) -> SlaveSession:
        session = SlaveSession(self._take_id(), identifier, self.dialect, expect, parent,
                               emit=self._emitter())
        self.sessions.append(session)
        return session

    def _take_id(self) -> int:
        self._next_id += 1
        return self._next_id - 1

    def _forget(self, session: SlaveSession) -> None:
        """A stopped child leaves the master's tables (the root stays: it is booted again)."""
        if session is not self.root and session in self.sessions:
            self.sessions.remove(session)  # _running drops it at its next prune

    def _record(self, session: SlaveSession, error: ProtocolError) -> None:
        session.record_error(error)
        self._errors.append(error)

    def _live(self) -> list[SlaveSession]:
        self._running = [s for s in self._running if s.lifecycle.live]
        return self._running

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this Master is closed")

    def _emit(self, event: ObservedEvent) -> None:
        if self.observer is not None:
            self.observer(event)

    def _emitter(self) -> Observer | None:
        """What sessions emit to: nothing at all without an observer (no event objects)."""
        return self._emit if self.observer is not None else None

    @contextmanager
    def _guarded(self, session: SlaveSession) -> Iterator[None]:
        """A slave's ProtocolError is recorded on it, and it is stopped; the master goes on."""
        try:
            yield
        except ProtocolError as error:
            self._record(session, error)
            try:
                self._stop(session)
            except ProtocolError as late:  # its last bytes were bad too: keep the first cause
                session.errors.append(late)
                self._errors.append(late)
        finally:
            self._settle(session)

    def _settle(self, session: SlaveSession) -> None:
        """After each event: stop a crashed slave once it is finished, re-arm deadlines."""
        if session.lifecycle.state == "crashed" and (
                session.errors or session.handshake.finished or session.exited):
            self._stop(session)
        if session.lifecycle.live:
            session.update_deadline(self.step_timeout, self.drain_timeout)

    def _expire(self, session: SlaveSession) -> None:
        with self._guarded(session):
            if session.waiting_for_step or session.handshake.phase in ("crashed", "command"):
                session.deadline_passed()  # the Handshake raises the StepTimeout of that step
            else:
                self._stop(session)  # the drain time of a closed channel is over

    # ---- the loop's handlers -----------------------------------------------------------

    def _watched(self) -> dict[int, Callable[[], None]]:
        watched: dict[int, Callable[[], None]] = {self._sock.fileno(): self._on_master_socket}
        for s in self._live():
            if s.channel is not None:
                watched[s.channel.fileno()] = partial(self._on_channel, s)
            if s.pipe is not None:
                watched[s.pipe] = partial(self._on_pipe, s)
            if s.process_fd is not None and not s.exited:
                watched[s.process_fd] = partial(self._on_exit, s)
        watched.update(self.commands.watched())
        return watched

    def _dispatch(self, ready: list[int], watched: dict[int, Callable[[], None]]) -> bool:
        """Run the handlers of ready fds; False if one closed a watched fd mid-round."""
        closes = self._fd_closes
        for fd in ready:
            watched[fd]()
            if self._fd_closes != closes:
                return False
        return True

    def _on_master_socket(self) -> None:
        received = receive(self._sock, 0.0)
        if received is None:
            return
        kinds = received.kinds
        sock = None
        peer_pid = peer_uid = None
        if len(received.fds) == 1 and kinds[0] in UNIX_SOCKETS:
            sock = adopt_socket(received.keep())
            creds = peer_credentials(sock)
            peer_pid, peer_uid = creds.pid, creds.uid
        else:
            received.close()  # nothing usable: the Handshake will say why
        group = None if peer_pid is None else process_group_of(peer_pid)
        session = self._claim(peer_pid, group)
        if self.observer is not None:
            self._emit(WireEvent(time.monotonic(), session.ref() if session else None,
                                 Direction.RECEIVED, Channel.MASTER, received.data, kinds))
        if session is None:
            self._stray(kinds, peer_pid, sock)
            return
        with self._guarded(session):
            try:
                # The machine refuses a maker outside the slaves' process group (PID-2):
                # stopping that "slave" would signal a process that is not ours.
                session.feed_socket(kinds, received.data, peer_pid, peer_uid, group)
            except ProtocolError:
                close_quietly(sock)
                raise
            assert sock is not None
            session.channel = sock
            if session.process_fd is None and peer_pid is not None:
                session.process_fd = process_handle(peer_pid)
                session.exited = session.process_fd is None  # gone already: drain it now
                if session.exited:
                    self._on_exit(session)

    def _group(self) -> int | None:
        """The slaves' process group: the root leads it (it starts a new session)."""
        root = self.root
        return root.process.pid if root is not None and root.process is not None else None

    def _claim(self, peer_pid: int | None, group: int | None) -> SlaveSession | None:
        """The pending request a registration answers, by what its socket's maker proves
        (see the module doc); None: a stray."""
        if not self._pending:
            return None
        parent = None if peer_pid is None else parent_pid_of(peer_pid)
        proven = parent is not None and group is not None and group == self._group()
        for session in self._pending:
            if not proven or session.parent is None:
                break  # nothing to match on, or the root: the oldest pending takes it
            if parent in (session.parent.peer_pid, session.parent.pid):
                break
        else:
            return None
        self._pending.remove(session)
        return session

    def _stray(self, kinds: tuple[FdKind, ...], peer_pid: int | None,
               sock: socket.socket | None) -> None:
        """A registration no start asked for: the lifecycle calls it SPAWN-5."""
        stray = SlaveSession(self._take_id(), "", self.dialect, Expectation(), None,
                             emit=self._emitter())
        stray.peer_pid = peer_pid
        self._strays.append(stray)
        fds = ", ".join(k.value for k in kinds) or "no fd"
        try:
            stray.lifecycle.fire("register", f"from pid {peer_pid} ({fds})")
        except ProtocolError as error:
            stray.errors.append(error)
            self._errors.append(error)
            self._emit(ErrorRecorded(time.monotonic(), stray.ref(), error))
        close_quietly(sock)
        root = self.root
        if peer_pid is not None and root is not None and root.pid is not None \
                and process_group_of(peer_pid) == root.pid:
            handle = process_handle(peer_pid)  # one of our slaves' tree: stop it
            if handle is not None:
                self._terminate(stray, handle, peer_pid)
                close_quietly(handle)

    def _on_channel(self, session: SlaveSession) -> None:
        with self._guarded(session):
            self._read_channel(session)

    def _read_channel(self, session: SlaveSession) -> bool:
        """Read what the slave socket holds now; True if anything came (or EOF)."""
        sock = session.channel
        if sock is None:
            return False
        datagrams: list[bytes] = []
        got = False
        for _ in range(_READS_PER_ROUND):
            received = receive(sock, 0.0)
            if received is None:
                break
            got = True
            kinds = received.kinds
            if self.observer is not None:
                self._emit(WireEvent(time.monotonic(), session.ref(), Direction.RECEIVED,
                                     Channel.SLAVE, received.data, kinds, received.eof))
            try:
                if self.dialect.files_on_pipe:
                    session.feed_stream(received.data)
                elif not received.fds:
                    datagrams.append(received.data)
                # spec: a datagram that carries fds is no message; the fds are what counts.
                if received.fds and session.handshake.phase == "command":
                    # zeus, after C: the runner's socket (the command machine takes it)
                    self.commands.runner_arrived(session, received.keep(), received.data)
                elif received.fds:
                    if datagrams:
                        session.feed_datagrams(datagrams)
                        datagrams = []
                    session.fd_passed(kinds)
                    session.pipe = received.keep()
                    set_nonblocking(session.pipe)
            finally:
                received.close()
            if received.eof:
                self._hung_up(session)
                break
        if datagrams:
            session.feed_datagrams(datagrams)
        return got

    def _hung_up(self, session: SlaveSession) -> None:
        """The slave socket reached EOF."""
        self._close_channel(session)
        if session.stopping:  # an EOF the master caused is not the slave's news
            return
        # zeus: paths still in the pipe were reported before the hang-up;
        # read them before the Handshake judges it (it may break the session).
        for _ in range(_READS_PER_ROUND):
            if not self._read_pipe(session):
                break
        session.channel_ended()

    def _on_pipe(self, session: SlaveSession) -> None:
        with self._guarded(session):
            self._read_pipe(session)

    def _read_pipe(self, session: SlaveSession) -> bool:
        """Read what the pipe holds now as one batch; True if anything came (or EOF)."""
        if session.pipe is None:
            return False
        chunks: list[bytes] = []
        eof = False
        for _ in range(_READS_PER_ROUND):
            chunk = read_pipe(session.pipe)
            if chunk is None:
                break
            if not chunk:
                eof = True
                break
            chunks.append(chunk)
        data = b"".join(chunks)
        if (data or eof) and self.observer is not None:
            self._emit(WireEvent(time.monotonic(), session.ref(), Direction.RECEIVED,
                                 Channel.PIPE, data, eof=eof))
        if data:
            session.feed_pipe(data)
        if eof:
            self._close_pipe(session)
            if not session.stopping:
                session.pipe_ended()
        return bool(data) or eof

    def _on_exit(self, session: SlaveSession) -> None:
        """The slave's process exited: read everything it left, then its channels are closed.

        spec needs this (a datagram socket has no EOF); in zeus it also covers a
        channel kept open by another process that inherited it.
        """
        session.exited = True
        self._emit(ProcessEvent(time.monotonic(), session.ref(), ProcessAction.EXITED,
                                session.peer_pid or session.pid or 0, _exit_detail(session)))
        with self._guarded(session):
            if session in self._pending:
                self._drain_master_socket(session)
            self._drain(session)
            if session.channel is not None:
                self._close_channel(session)
                session.channel_ended()
            if session.pipe is not None:
                self._close_pipe(session)
                session.pipe_ended()
            if session.lifecycle.state == "spawning" and session.handshake.phase == "socket":
                self._pending_exit(session)

    def _pending_exit(self, session: SlaveSession) -> None:
        """The root exited before sending its socket: that is SOCKET-2, said by the machine."""
        if session in self._pending:
            self._pending.remove(session)
        session.channel_ended()  # raises: the Handshake rejects a hang-up in `socket`

    def _drain_master_socket(self, session: SlaveSession) -> None:
        """A pending slave exited: its registration may still be queued on the master socket."""
        for _ in range(_READS_PER_ROUND):
            if session not in self._pending or not wait_readable([self._sock.fileno()], 0.0):
                return
            self._on_master_socket()

    def _drain(self, session: SlaveSession) -> None:
        """Read the slave socket and pipe until nothing is left (bounded by a round count)."""
        for _ in range(_READS_PER_ROUND):
            if not (self._read_channel(session) | self._read_pipe(session)):
                return

    # ---- stopping -----------------------------------------------------------------------

    def _stop(self, session: SlaveSession, last_resort: bool = False) -> None:
        """Stop a live slave: signal it unless it exited, read what it left, reap, close fds."""
        if not session.lifecycle.live:
            return
        session.deadline = None
        session.stopping = True
        if session in self._pending:
            self._pending.remove(session)
        try:
            handle, pid = session.process_fd, session.peer_pid or session.pid
            if not session.exited and handle is not None and pid is not None:
                self._terminate(session, handle, pid)
                session.exited = True
                if not session.handshake.finished and session.handshake.phase != "broken":
                    self._drain(session)  # what it sent before it died is still reported
            if session.process is not None:
                self._reap_root(session, last_resort)
        finally:
            self._close_channel(session)
            self._close_pipe(session)
            close_quietly(session.process_fd)
            session.process_fd = None
            self._fd_closes += 1
            session.lifecycle.fire("stop")
            self.commands.slave_failed(session)
            self._forget(session)

    def _kill_unknown_slaves(self) -> None:
        """SIGKILL processes of the root's tree the master has no session for (a child that
        hung before sending its socket), while the root lives to reap them."""
        root = self.root
        if root is None or root.process is None or not root.lifecycle.live or root.exited:
            return
        for pid in process_group_members(root.process.pid):
            if pid == root.process.pid:
                continue
            handle = process_handle(pid)
            if handle is None:
                continue
            try:
                if signal_process(handle, signal.SIGKILL):
                    self._emit(ProcessEvent(time.monotonic(), None, ProcessAction.SIGNALLED,
                                            pid, "SIGKILL (no session: never registered)"))
                    wait_readable([handle], _KILL_CONFIRM)
            finally:
                close_quietly(handle)

    def _let_root_reap(self) -> None:
        """Give the root slave up to kill_grace to reap the children stopped above.

        Stopping it first would leave their zombies to init. Nothing signals a
        reap, so this looks at /proc every few milliseconds, at close only.
        """
        root = self.root
        if root is None or root.process is None or not root.lifecycle.live or root.exited:
            return
        clock = Clock(self.kill_grace)
        while not clock.expired and process_group_members(root.process.pid, zombies=True) \
                != [root.process.pid]:
            time.sleep(0.005)

    def _terminate(self, session: SlaveSession, handle: int, pid: int) -> None:
        """SIGTERM, then SIGKILL after kill_grace; wait (bounded) until the pidfd says gone."""
        for signum, wait in ((signal.SIGTERM, self.kill_grace), (signal.SIGKILL, _KILL_CONFIRM)):
            if wait_readable([handle], 0.0):
                break
            if not signal_process(handle, signum):
                break
            self._emit(ProcessEvent(time.monotonic(), session.ref(), ProcessAction.SIGNALLED,
                                    pid, signal.Signals(signum).name))
            if wait_readable([handle], wait):
                break

    def _reap_root(self, root: SlaveSession, last_resort: bool) -> None:
        process = root.process
        assert process is not None
        if last_resort:
            # The root is exited but not reaped, so its group id cannot be reused yet:
            # kill whatever is left of the tree it started (start_new_session=True).
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        try:
            root.exit_status = process.wait(timeout=_KILL_CONFIRM)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL did not work
            process.kill()
            root.exit_status = process.wait(timeout=_KILL_CONFIRM)
        self._emit(ProcessEvent(time.monotonic(), root.ref(), ProcessAction.REAPED,
                                process.pid, f"status {root.exit_status}"))

    def _fds_changed(self) -> None:
        self._fd_closes += 1  # the loop re-polls before it judges anything

    def _close_channel(self, session: SlaveSession) -> None:
        if session.channel is not None:
            close_quietly(session.channel)
            session.channel = None
            self._fd_closes += 1

    def _close_pipe(self, session: SlaveSession) -> None:
        if session.pipe is not None:
            close_quietly(session.pipe)
            session.pipe = None
            self._fd_closes += 1


def _nothing() -> None:
    """The handler of a caller's wake fd: the caller reads it, in its `until()`."""


def _exit_detail(session: SlaveSession) -> str:
    """The root's exit status, read without reaping it (its group id must stay reserved)."""
    if session.process is None:
        return ""  # a child is its parent slave's to reap: its status is not ours to read
    try:
        info = os.waitid(os.P_PID, session.process.pid, os.WEXITED | os.WNOWAIT | os.WNOHANG)
    except ChildProcessError:
        return ""
    if info is None:
        return ""
    how = "exit status" if info.si_code == os.CLD_EXITED else "killed by signal"
    return f"{how} {info.si_status}"
