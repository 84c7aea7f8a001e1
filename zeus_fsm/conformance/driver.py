"""The judge: a small master that drives one slave command for one conformance case.

It is not zeus_fsm.master.loop: a checker needs to observe what a production master
would hide (which step a slave is in, which files came after its result, a
registration nobody asked for) and to do things a master never does (send two
S in one write, start a slave with a broken environment).

Every fact the judge observes becomes an event for that slave's
machine.Handshake, which raises a ProtocolError naming the broken requirement.
Facts the machine cannot judge (an extra registration, a missing lazy file)
are left to the cases, which raise a Violation with their own expectation.

Every wait is bounded by the step timeout; `close()` kills the slave's whole
process group and closes every fd the judge holds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING

import attrs

from zeus_fsm.protocol.connection import SlaveConnection
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.escapes import printable, show_bytes
from zeus_fsm.protocol.events import UNIX_SOCKETS
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import ActionResult, PidIdentifier, SpawnCommand, SpawnSlave
from zeus_fsm.transport import fds as transport
from zeus_fsm.transport import processes
from zeus_fsm.transport.processes import DIALECT_ENV

if TYPE_CHECKING:
    import socket

#: How long the judge listens for more events before it calls a slave settled.
QUIET_SECONDS = 0.1
#: How long a killed process group gets to disappear before the judge gives up.
REAP_SECONDS = 2.0
#: Reads of one pipe per wake-up, so a chatty slave cannot starve the other fds.
PIPE_READS_PER_WAKE = 16
#: How much of the slave's stderr a failure report shows.
STDERR_TAIL_LINES = 6

#: Phases of the handshake before the slave is registered, in order.
_REGISTERING = ("socket", "pid", "pipe")


class SlaveStartError(Exception):
    """The slave command could not be started at all (not found, not executable)."""


class Violation(Exception):
    """A case's explicit expectation did not hold (the machine could not judge it)."""

    def __init__(self, requirement: str, expected: str, actual: str) -> None:
        self.requirement = requirement
        self.expected = expected
        self.actual = actual
        super().__init__(f"{requirement}: expected {expected}; actual {actual}")


@attrs.define(eq=False)
class Session:
    """One slave (the root or a child) as the judge sees it: the protocol's connection
    (which decodes, judges and records) and the judge's handles."""

    label: str  # "the root slave" or "the child 'child_ok'"
    connection: SlaveConnection
    #: The slave that was sent S for this one (None for the root).
    parent: Session | None = None
    sock: socket.socket | None = None  # the slave's socket, once it arrived
    pipe_fd: int | None = None
    #: pidfd of the slave's process: the spec dialect's only sign of a closed channel.
    exit_fd: int | None = None
    exited: bool = False

    @property
    def machine(self) -> Handshake:
        return self.connection.handshake

    @property
    def phase(self) -> str:
        return self.connection.phase

    @property
    def pid(self) -> int | None:
        return self.connection.pid

    @property
    def parent_pid(self) -> int | None:
        return self.connection.parent_pid

    @property
    def identifier(self) -> str | None:
        return self.connection.identifier

    @property
    def result(self) -> ActionResult | None:
        return self.connection.result

    @property
    def files(self) -> list[bytes]:
        """Every path reported, each once (repeats: connection.repeated_files)."""
        return self.connection.loaded_files

    @property
    def files_after_result(self) -> list[bytes]:
        return self.connection.files_after_result


@attrs.define
class _Launched:
    """A process the judge started, and the file its stderr goes to."""

    process: subprocess.Popen[bytes]
    stderr: IO[bytes]

    def read_stderr(self) -> bytes:
        self.stderr.seek(0)
        return self.stderr.read()


@attrs.frozen
class BadEnvOutcome:
    """How a slave started with a broken ZEUS_MASTER_FD ended."""

    returncode: int | None  # None: still running when the timeout ran out
    stderr: bytes


class Judge:
    """Drives one slave command for one case; use as a context manager."""

    def __init__(self, command: Sequence[str], dialect: Dialect, timeout: float) -> None:
        self.command = list(command)
        self.dialect = dialect
        self.timeout = timeout
        self.sessions: list[Session] = []
        #: Sockets that arrived on the master socket when no S was waiting for one.
        self.extra_registrations: list[str] = []
        #: What the judge is waiting for now: the `Expected:` of a machine verdict.
        self.expecting = "the slave to start"
        self._pending: deque[Session] = deque()
        self._master: socket.socket | None = None
        self._root: _Launched | None = None
        self._launched: list[_Launched] = []
        #: pidfds of processes behind extra registrations: killed at the end like the rest.
        self._strays: list[int] = []

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- starting slaves --------------------------------------------------

    def _slave_env(self, master_fd: str | None) -> dict[str, str]:
        env = dict(os.environ)
        env[DIALECT_ENV] = self.dialect.name  # a convenience; CMD may ignore it
        env.pop(processes.MASTER_FD_ENV, None)
        if master_fd is not None:
            env[processes.MASTER_FD_ENV] = master_fd  # set as is: it may be broken on purpose
        return env

    def _launch(self, env: dict[str, str], pass_fds: Sequence[int]) -> _Launched:
        stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        try:
            # A new session: the slave leads its own process group, killed whole at the end.
            process = processes.start_slave(self.command, env, None, pass_fds=pass_fds,
                                            stdout=subprocess.DEVNULL, stderr=stderr)
        except OSError as error:
            stderr.close()
            raise SlaveStartError(f"cannot start {' '.join(self.command)!r}: {error}") from None
        launched = _Launched(process, stderr)
        self._launched.append(launched)
        return launched

    def start_root(self) -> Session:
        """Start the slave command with the master socket on ZEUS_MASTER_FD."""
        master, theirs = transport.master_socketpair()
        self._master = master
        try:
            self._root = self._launch(self._slave_env(str(theirs.fileno())), [theirs.fileno()])
        finally:
            transport.close_quietly(theirs)
        pid = self._root.process.pid
        expect = Expectation(identifier=self.dialect.root_identifier,
                             parent_pid=0 if self.dialect.has_parent_pid else None,
                             pid=pid, uid=os.getuid())
        root = self._new_session("the root slave", expect)
        root.exit_fd = processes.process_handle(pid)
        return root

    def start_with_bad_env(self, variants: Sequence[str]) -> list[BadEnvOutcome]:
        """Start one slave per variant at once, with ZEUS_MASTER_FD unset, not a number,
        closed, or not a socket; wait (bounded) for each to exit."""
        launched = [self._launch_bad_env(variant) for variant in variants]
        clock = transport.Clock(self.timeout)
        outcomes = []
        for one in launched:
            try:
                code: int | None = one.process.wait(clock.remaining())
            except subprocess.TimeoutExpired:
                code = None
            outcomes.append(BadEnvOutcome(code, one.read_stderr()))
        return outcomes

    def _launch_bad_env(self, variant: str) -> _Launched:
        pass_fds: list[int] = []
        held: list[int] = []
        if variant == "unset":
            value = None
        elif variant == "not a number":
            value = "not-a-number"
        elif variant == "closed":
            value = "1000"  # far above what a fresh process has open
        elif variant == "not a socket":
            read_end, write_end = transport.make_pipe()
            held = [read_end, write_end]
            os.set_inheritable(read_end, True)
            pass_fds = [read_end]
            value = str(read_end)
        else:
            raise ValueError(f"unknown variant {variant!r}")
        try:
            return self._launch(self._slave_env(value), pass_fds)
        finally:
            for fd in held:
                transport.close_quietly(fd)

    def _new_session(self, label: str, expect: Expectation,
                     parent: Session | None = None) -> Session:
        session = Session(label, SlaveConnection(self.dialect, expect), parent)
        self.sessions.append(session)
        self._pending.append(session)
        return session

    # ---- talking to slaves ------------------------------------------------

    def spawn(self, parent: Session, identifier: str, count: int = 1) -> list[Session]:
        """Send `count` S:<identifier> to a connected slave in ONE write; await nothing yet."""
        message = SpawnSlave(identifier)
        if self.dialect.name == "spec" and count > 1:
            raise ValueError("spec carries one message per datagram: send S one at a time")
        self._require_connected(parent, f"{parent.label} to accept S:{identifier}")
        for _ in range(count):
            parent.connection.feed(message)  # SPAWN-1: a master bug would raise here
        children = [
            self._new_session(f"the child {identifier!r}",
                              Expectation(identifier=identifier,
                                          parent_pid=parent.pid
                                          if self.dialect.has_parent_pid else None,
                                          uid=os.getuid()), parent)
            for _ in range(count)]
        wire = self.dialect.encode(message)
        self._send(parent, wire * count, "SPAWN-2")
        return children

    def send_command(self, parent: Session, identifier: str) -> None:
        """Send C:<identifier> (Spawn Command) to a connected slave."""
        message = SpawnCommand(identifier)
        self._require_connected(parent, f"{parent.label} to accept C:{identifier}")
        self._send(parent, parent.connection.sending(message), "SPAWN-4")

    def _require_connected(self, session: Session, expected: str) -> None:
        if session.phase != "connected":
            raise Violation("SPAWN-2", expected,
                            f"{session.label} is {session.phase}, not connected")

    def _send(self, session: Session, data: bytes, requirement: str) -> None:
        try:
            assert session.sock is not None
            transport.send_bounded(session.sock, data, self.timeout)
        except TimeoutError:
            raise Violation(requirement, f"{session.label} to read {show_bytes(data)}",
                            f"it did not read for {self.timeout:g} s") from None
        except OSError as error:
            raise Violation(requirement, f"{session.label} to read {show_bytes(data)}",
                            f"sending failed: {error} (its socket is closed)") from None

    # ---- waiting, step by step --------------------------------------------

    def advance(self, session: Session, past: str) -> None:
        """Wait, one bounded step at a time, until `session` is past phase `past`.

        `past` is one of socket, pid, pipe, action (registered and R received).
        A step that does not complete in time is a Deadline for the machine.
        """
        order = [*_REGISTERING, "action"]
        waiting = order[: order.index(past) + 1]
        while session.phase in waiting:
            phase = session.phase
            self.expecting = self._step_text(session, phase)
            if not self.wait_for(_phase_left(session, phase)):
                if phase == "socket" and session.parent is not None:
                    raise Violation("SPAWN-2", self.expecting,
                                    f"no socket arrived within {self.timeout:g} s")
                self._time_out(session)

    def _time_out(self, session: Session) -> None:
        """The step ran out of time: the connection names the rule (it raises)."""
        session.connection.deadline_passed(self.timeout)

    def result(self, session: Session) -> ActionResult:
        """Wait for the session's R (registering first) and return it."""
        self.advance(session, "action")
        assert session.result is not None  # the machine allows no way past `action` without R
        return session.result

    def connected(self, session: Session, identifier: str) -> None:
        """Wait until the session sent R:OK; an error result breaks RESULT-2."""
        result = self.result(session)
        if not result.ok:
            raise Violation("RESULT-2", f"R:OK from {session.label} (action {identifier!r})",
                            "R with error text "
                            + show_bytes((result.error or "").encode("utf-8", "surrogateescape")))

    def closed(self, session: Session) -> None:
        """After a failed result: wait until the slave's channel (and, in zeus, its pipe)
        is closed. The machine judges a channel still open after the timeout (CRASH-1)."""
        if self.result(session).ok:
            raise ValueError("closed() is for a slave whose action failed")
        if session.phase == "crashed":
            self.expecting = self._step_text(session, "crashed")
            if not self.wait_for(_phase_left(session, "crashed")):
                self._time_out(session)
        if session.machine.files_open:
            self.expecting = f"{session.label} to close its loaded-files pipe with its socket"
            if not self.wait_for(lambda: not session.machine.files_open):
                raise Violation("CRASH-1", self.expecting,
                                f"the pipe was still open {self.timeout:g} s after the socket")

    def _step_text(self, session: Session, phase: str) -> str:
        d = self.dialect
        if phase == "socket":
            kind = "SOCK_STREAM" if d.files_on_pipe else "SOCK_DGRAM"
            return (f"{session.label} sends one AF_UNIX {kind} socket, alone in one datagram "
                    f"on ZEUS_MASTER_FD, within {self.timeout:g} s")
        if phase == "pid":
            expect = session.machine.expect
            example = PidIdentifier(pid=expect.pid or 4242, identifier=expect.identifier or "",
                                    parent_pid=(expect.parent_pid if expect.parent_pid is not None
                                                else 4241) if d.has_parent_pid else None)
            return (f"{session.label} sends P first, like {show_bytes(d.encode(example))}, "
                    f"within {self.timeout:g} s")
        if phase == "pipe":
            return (f"{session.label} sends the read end of a pipe right after P, "
                    f"within {self.timeout:g} s")
        if phase == "action":
            return f"{session.label} sends R within {self.timeout:g} s of P"
        if phase == "crashed":
            return (f"{session.label} closes its channel within {self.timeout:g} s "
                    "of its failed result")
        return f"{session.label} closes its channel within {self.timeout:g} s"

    def wait_for(self, done: Callable[[], bool], seconds: float | None = None) -> bool:
        """Serve every fd until `done()` holds; False when `seconds` ran out first."""
        clock = transport.Clock(self.timeout if seconds is None else seconds)
        while not done():
            if clock.expired:
                return False
            ready = transport.wait_readable(self._handlers().keys(), clock.remaining())
            self._serve(ready)
        return True

    def settle(self, quiet: float = QUIET_SECONDS) -> None:
        """Serve events until none came for `quiet` seconds (at most the step timeout)."""
        clock = transport.Clock(self.timeout)
        while not clock.expired:
            ready = transport.wait_readable(self._handlers().keys(),
                                            min(quiet, clock.remaining()))
            if not ready:
                return
            self._serve(ready)

    # ---- serving fds ------------------------------------------------------

    def _handlers(self) -> dict[int, tuple[int, Callable[[], None]]]:
        """fd -> (priority, handler). Pipes are read before sockets so that a file written
        before R is never mistaken for one written after it."""
        handlers: dict[int, tuple[int, Callable[[], None]]] = {}
        if self._master is not None:
            handlers[self._master.fileno()] = (3, self._on_master)
        for s in self.sessions:
            if s.pipe_fd is not None:
                handlers[s.pipe_fd] = (0, functools.partial(self._on_pipe, s))
            if s.sock is not None:
                handlers[s.sock.fileno()] = (1, functools.partial(self._on_socket, s))
            watch_exit = s.phase == "socket" or not self.dialect.files_on_pipe
            if s.exit_fd is not None and not s.exited and watch_exit:
                handlers[s.exit_fd] = (2, functools.partial(self._on_exit, s))
        return handlers

    def _serve(self, ready: list[int]) -> None:
        handlers = self._handlers()
        for _, handler in sorted((handlers[fd] for fd in ready if fd in handlers),
                                 key=lambda item: item[0]):
            handler()

    def _on_master(self) -> None:
        assert self._master is not None
        received = transport.receive(self._master, 0)
        if received is None:
            return
        kinds = received.kinds
        sock = None
        peer_pid = peer_uid = None
        if len(kinds) == 1 and kinds[0] in UNIX_SOCKETS:
            sock = transport.adopt_socket(received.keep(0))
            creds = transport.peer_credentials(sock)
            peer_pid, peer_uid = creds.pid, creds.uid
        received.close()
        session = self._claim(peer_pid)
        if session is None:
            self.extra_registrations.append(
                f"{len(kinds)} fd(s) ({', '.join(k.value for k in kinds) or 'none'}) "
                f"from pid {peer_pid}, payload {show_bytes(received.data)}")
            transport.close_quietly(sock)
            stray = None if peer_pid is None else processes.process_handle(peer_pid)
            if stray is not None:
                self._strays.append(stray)
            return
        try:
            session.connection.socket_passed(kinds, received.data, peer_pid, peer_uid)
        except ProtocolError:
            transport.close_quietly(sock)
            raise
        session.sock = sock
        if session.exit_fd is None and peer_pid is not None:
            session.exit_fd = processes.process_handle(peer_pid)
            if session.exit_fd is None and not self.dialect.files_on_pipe:
                self._on_exit(session)  # it is gone already: its channel has ended

    def _claim(self, peer_pid: int | None) -> Session | None:
        """The pending registration a socket from `peer_pid` answers.

        Children are matched by their OS parent, so that an extra child forked for
        one S can never pass for the child of a later S; when the parent cannot be
        read (no socket, or the process is gone) the oldest pending one is taken.
        """
        parent = None if peer_pid is None else processes.parent_pid_of(peer_pid)
        for session in self._pending:
            if session.parent is None or parent is None or session.parent.pid == parent:
                self._pending.remove(session)
                return session
        return None

    def _on_socket(self, session: Session) -> None:
        assert session.sock is not None
        received = transport.receive(session.sock, 0)
        if received is None:
            return
        try:
            if received.eof:
                self._hang_up(session)
                return
            session.connection.received(received.data)
            if received.fds:
                session.connection.fd_passed(received.kinds)
                session.pipe_fd = received.keep(0)
                transport.set_nonblocking(session.pipe_fd)
        finally:
            received.close()

    def _hang_up(self, session: Session) -> None:
        """The slave's channel ended: the stream's EOF (zeus) or the process's exit (spec)."""
        if session.sock is not None:
            transport.close_quietly(session.sock)
            session.sock = None
        session.connection.channel_ended()

    def _on_exit(self, session: Session) -> None:
        session.exited = True
        if session.phase == "socket":
            assert self._master is not None
            while transport.wait_readable([self._master.fileno()], 0):
                self._on_master()  # it may have sent its socket just before it exited
            if session.phase == "socket":
                code = self._root.process.poll() if self._root else None
                raise Violation("SOCKET-2", self.expecting,
                                f"{session.label} exited (status {code}) before sending its "
                                "socket")
            if self.dialect.files_on_pipe:
                return  # zeus: the end of its stream tells when its channel closed
        while session.sock is not None:  # datagrams sent before the exit are still queued
            received = transport.receive(session.sock, 0)
            if received is None:
                break
            kinds = received.kinds
            received.close()  # fds on a spec slave socket are judged by their kinds alone
            session.connection.received(received.data)
            if kinds:
                session.connection.fd_passed(kinds)
        self._hang_up(session)

    def _on_pipe(self, session: Session) -> None:
        assert session.pipe_fd is not None
        for _ in range(PIPE_READS_PER_WAKE):
            chunk = transport.read_pipe(session.pipe_fd)
            if chunk is None:
                return
            if not chunk:
                transport.close_quietly(session.pipe_fd)
                session.pipe_fd = None
                session.connection.pipe_ended()
                return
            session.connection.pipe_received(chunk)

    # ---- the end ----------------------------------------------------------

    def stderr_text(self) -> bytes:
        """What the root slave wrote to stderr so far."""
        return self._root.read_stderr() if self._root else b""

    def stderr_tail(self) -> list[str]:
        """The root's last stderr lines, with control characters escaped (safe to print)."""
        text = self.stderr_text().decode("utf-8", "backslashreplace")
        return [printable(line) for line in text.splitlines()[-STDERR_TAIL_LINES:]]

    def close(self) -> None:
        """Kill the slave's process group (and any slave that left it), close every fd."""
        # By pidfd first: a slave that left the process group (setsid) dies all the same.
        handles = [h for h in [s.exit_fd for s in self.sessions] + self._strays
                   if h is not None]
        for handle in handles:
            processes.signal_process(handle, signal.SIGKILL)
        for launched in self._launched:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(launched.process.pid, signal.SIGKILL)
        for launched in self._launched:
            with contextlib.suppress(subprocess.TimeoutExpired):  # SIGKILL cannot be ignored
                launched.process.wait(REAP_SECONDS)
            processes.wait_group_gone(launched.process.pid, REAP_SECONDS)
        # A slave outside the group is not covered by the waits above: its pidfd turns
        # readable once it has died (bounded, like every wait here).
        clock = transport.Clock(REAP_SECONDS)
        dying = set(handles)
        while dying and not clock.expired:
            dying -= set(transport.wait_readable(dying, clock.remaining()))
        for session in self.sessions:
            for fd in (session.pipe_fd, session.exit_fd):
                transport.close_quietly(fd)
            transport.close_quietly(session.sock)
            session.pipe_fd = session.exit_fd = session.sock = None
        for handle in self._strays:
            transport.close_quietly(handle)
        self._strays.clear()
        transport.close_quietly(self._master)
        self._master = None
        for launched in self._launched:
            launched.stderr.close()
        self._launched.clear()
        self._root = None


def _phase_left(session: Session, phase: str) -> Callable[[], bool]:
    return lambda: session.phase != phase

