"""The judge: a small master that drives one slave command for one conformance case.

It is not zeus_fsm.master.loop: a checker needs to observe what a production master
would hide (which step a slave is in, which files came after its result, a
registration nobody asked for) and to do things a master never does (send two
S in one write, start a slave with a broken environment).

Every fact the judge observes becomes an event for that slave's
machine.Handshake, which raises a ProtocolError naming the broken requirement.
Facts the machine cannot judge (an extra registration, a missing lazy file)
are left to the cases, which raise a Violation with their own expectation.

In the zeus dialect it also plays master and client for commands (`C`): the
runner socket goes to the shared connection (`runner_passed`) and the Command
machine, the judge sends the header and the client's fds itself, with a dummy
client process of its own, and reads P, the exit status and the output.

Every wait is bounded by the step timeout; `close()` ends every process of the
case (those that left its process group or session too) and closes every fd
the judge holds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO

import attrs

from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.command import RUNNER_PAYLOAD, Command, CommandExpectation
from zeus_fsm.protocol.connection import SlaveConnection
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.escapes import printable, show_bytes
from zeus_fsm.protocol.events import (
    UNIX_SOCKETS,
    ChannelClosed,
    ClientFdsPassed,
    CommandEnded,
    Deadline,
    RunnerPassed,
)
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import (
    ActionResult,
    CommandPid,
    PidIdentifier,
    RunnerHeader,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.transport import fds as transport
from zeus_fsm.transport import processes
from zeus_fsm.transport.processes import DIALECT_ENV

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
#: Marks every process of one case in its environment (a random value per case): it
#: survives setsid and the loss of a parent, so the judge finds every process to end.
RUN_MARK_ENV = "ZEUS_FSM_CHECK_RUN"
#: The most output of a command the judge keeps (the rest is read and dropped).
MAX_OUTPUT = 1 << 20
#: Rounds of "find the case's processes, stop them" before they are killed.
SWEEP_ROUNDS = 20
#: The dummy client: a process the judge owns, whose pid goes in the runner's header.
#: The runner watches it (CMD-9), and the Ruby runner sends it SIGTERM when anything
#: goes wrong: never the checker's own pid, 0 or -1.
DUMMY_CLIENT = ("sleep", "86400")


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
    #: zeus: the command whose C was sent and whose runner socket has not arrived yet.
    asked: CommandRun | None = None

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


@attrs.define(eq=False)
class CommandRun:
    """zeus: one command the judge asked a slave for, playing its master and its client.

    The client's side is the judge's own: a dummy client process (its pid goes in
    the header), and socketpairs for stdout/stdin and stderr whose other ends the
    judge reads itself.
    """

    label: str  # "the command 'zcheck exit 3'"
    slave: Session
    name: str
    args: tuple[bytes, ...]
    machine: Command
    client: subprocess.Popen[bytes] | None = None
    runner: socket.socket | None = None
    runner_exit_fd: int | None = None
    command_exit_fd: int | None = None
    decoder: command_wire.RunnerDecoder = attrs.Factory(command_wire.RunnerDecoder)
    stdout: socket.socket | None = None  # the client's ends, read by the judge
    stderr: socket.socket | None = None
    out: bytearray = attrs.Factory(bytearray)
    err: bytearray = attrs.Factory(bytearray)
    #: False once the case stopped judging it (the client is gone: nobody reads the rest).
    judged: bool = True
    #: False once its client is gone: the runner's end and status are not judged then (a
    #: status for a client that no longer exists; the Ruby runner sends none).
    status_judged: bool = True

    @property
    def state(self) -> str:
        return self.machine.state

    @property
    def pid(self) -> int | None:
        return self.machine.pid

    @property
    def runner_pid(self) -> int | None:
        return self.machine.runner_pid

    @property
    def status(self) -> int | None:
        return self.machine.status

    @property
    def outputs_open(self) -> bool:
        return self.stdout is not None or self.stderr is not None

    def client_fate(self) -> str:
        """What became of the dummy client, for a report: alive, or how it ended."""
        if self.client is None:
            return ""
        code = self.client.poll()
        if code is None:
            return ""
        if code < 0:
            return (f"; the dummy client (pid {self.client.pid}, the header's client pid) was "
                    f"killed by signal {-code} ({_signal_name(-code)})")
        return f"; the dummy client (pid {self.client.pid}) exited with status {code}"


@attrs.frozen
class Sweep:
    """The processes of a case the judge ended at its close."""

    ended: int
    #: Of those, how many had left the root slave's process group (runners call setsid).
    outside_group: int
    #: Pids still alive (not zombies) after the bounded wait: none, or a bug to report.
    survivors: tuple[int, ...]


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
        #: zeus: the commands asked for, in order.
        self.commands: list[CommandRun] = []
        self._mark = f"{RUN_MARK_ENV}={uuid.uuid4().hex}".encode()
        self._since = processes.clock_ticks_now() - 1
        #: What close() ended (None until then).
        self.sweep: Sweep | None = None

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---- starting slaves --------------------------------------------------

    def _slave_env(self, master_fd: str | None) -> dict[str, str]:
        env = dict(os.environ)
        env[DIALECT_ENV] = self.dialect.name  # a convenience; CMD may ignore it
        name, _, value = self._mark.decode().partition("=")
        env[name] = value  # every process of the case carries it, wherever it goes
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
                             pid=pid, uid=os.getuid(), group=pid)
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
            self._new_session(f"the child {_shown(identifier)}",
                              Expectation(identifier=identifier,
                                          parent_pid=parent.pid
                                          if self.dialect.has_parent_pid else None,
                                          uid=os.getuid(), group=self._root_group()), parent)
            for _ in range(count)]
        wire = self.dialect.encode(message)
        self._send(parent, wire * count, "SPAWN-2")
        return children

    def send_command(self, parent: Session, identifier: str) -> None:
        """spec: send C:<identifier> (Spawn Command) to a connected slave (no wire follows)."""
        message = SpawnCommand(identifier)
        self._require_connected(parent, f"{parent.label} to accept C:{identifier}")
        self._send(parent, parent.connection.sending(message), "SPAWN-4")

    # ---- commands (zeus): the master's side and the client's --------------------------

    def launch_command(self, slave: Session, name: str, args: Sequence[bytes],
                       stdin: bytes | None = b"") -> CommandRun:
        """C:<name> to a connected zeus slave, then, once its runner socket arrived, the
        header and the client's three fds: the command is asked for and starting.

        `stdin` is written to the stdout socket and its write side shut down, as the
        real non-tty client does at the end of its stdin (None: left open, so that a
        `cat` runs until `close_stdin`).
        """
        shown = " ".join([name, *(show_bytes(a)[2:-1] or "''" for a in args)])
        run = CommandRun(f"the command '{shown}'", slave, name, tuple(args),
                         Command(CommandExpectation(slave_pid=slave.pid)))
        self._require_connected(slave, f"{slave.label} to accept C:{name}")
        request = SpawnCommand(name)
        data = slave.connection.sending(request)  # connected -> command (CMD-1)
        run.machine.handle(request)
        self.commands.append(run)
        slave.asked = run
        self._send(slave, data, "CMD-2")
        self.expecting = self._command_step_text(run, "asked")
        if not self.wait_for(lambda: run.state != "asked"):
            slave.connection.deadline_passed(self.timeout)  # the Handshake names CMD-2
        self._start_client(run)
        assert run.client is not None
        header = RunnerHeader(run.client.pid, len(args))
        run.machine.handle(header)
        self.expecting = self._command_step_text(run, "attached")
        self._send_runner(run, command_wire.encode(header), [], "the header")
        self._pass_client_fds(run, stdin)
        return run

    def _start_client(self, run: CommandRun) -> None:
        command = list(DUMMY_CLIENT) if shutil.which(DUMMY_CLIENT[0]) else [
            sys.executable, "-c", f"import time; time.sleep({DUMMY_CLIENT[1]})"]
        run.client = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)

    def _pass_client_fds(self, run: CommandRun, stdin: bytes | None) -> None:
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(3)]
        (args_ours, args_theirs), (out_ours, out_theirs), (err_ours, err_theirs) = pairs
        theirs = (args_theirs, out_theirs, err_theirs)
        try:
            transport.send_bounded(args_ours, command_wire.encode_arguments(run.args),
                                   self.timeout)
            args_ours.close()  # the end of file the runner reads up to
            run.machine.handle(ClientFdsPassed(tuple(transport.fd_kind(s.fileno())
                                                     for s in theirs)))
            for what, sock in zip(("the arguments fd", "the stdout fd", "the stderr fd"),
                                  theirs, strict=True):
                self._send_runner(run, RUNNER_PAYLOAD, [sock.fileno()], what)
        except BaseException:
            for sock in (out_ours, err_ours):
                sock.close()
            raise
        finally:
            for sock in (args_ours, *theirs):
                sock.close()
        run.stdout, run.stderr = out_ours, err_ours
        for sock in (out_ours, err_ours):
            sock.setblocking(False)
        if stdin is not None:
            self.close_stdin(run, stdin)
        self.expecting = self._command_step_text(run, "starting")

    def close_stdin(self, run: CommandRun, data: bytes = b"") -> None:
        """Write `data` to the command's stdin, then its end of file (SHUT_WR)."""
        if run.stdout is None:
            return
        # The command may be done already and its ends closed: it did not want stdin.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            if data:
                transport.send_polled(run.stdout, data, self.timeout)
            run.stdout.shutdown(socket.SHUT_WR)

    def _send_runner(self, run: CommandRun, data: bytes, fds: list[int], what: str) -> None:
        """One message on the runner socket (a datagram), bounded."""
        assert run.runner is not None
        try:
            if fds:
                transport.send_fds_polled(run.runner, data, fds, self.timeout)
            else:
                transport.send_polled(run.runner, data, self.timeout)
        except TimeoutError:
            raise Violation("CMD-8", f"the runner (pid {run.runner_pid}) of {run.label} reads "
                            f"{what} ({show_bytes(data)}) on its socket",
                            f"it did not read for {self.timeout:g} s") from None
        except OSError:
            # Its end is closed (ECONNREFUSED): the runner is gone, and the machine says
            # which rule that breaks now (CMD-8: before the exit status).
            run.machine.handle(ChannelClosed())

    def command_started(self, run: CommandRun) -> None:
        """Wait for the command's P (CMD-5)."""
        self.expecting = self._command_step_text(run, "starting")
        if not self.wait_for(lambda: run.state != "starting"):
            run.machine.handle(Deadline(self.timeout))  # CMD-5: no P

    def command_done(self, run: CommandRun, within: float, requirement: str) -> CommandRun:
        """Wait for the command's P, then its end and exit status, then its output.

        The command must end within `within` seconds (a case knows how long its command
        takes; its own `requirement` is what a command still running then breaks); once
        its process has ended, the status must follow within the step timeout (CMD-7).
        The output is what reached the client's ends by then; their end of file is not
        waited for long (the real client does not wait for it either).
        """
        self.command_started(run)
        expected = self._command_step_text(run, "running", within)
        self.expecting = expected
        if not self.wait_for(lambda: run.state in ("finishing", "exited"), within):
            raise Violation(requirement, expected,
                            f"{run.label} (pid {run.pid}) was still running after "
                            f"{within:g} s{run.client_fate()}")
        if run.state == "finishing":
            self.expecting = self._command_step_text(run, "finishing")
            if not self.wait_for(lambda: run.state == "exited"):
                run.machine.handle(Deadline(self.timeout))  # CMD-7: no status
        self.expecting = f"{run.label}'s output reaches the client's ends"
        self.wait_for(lambda: not run.outputs_open, QUIET_SECONDS)
        for sock in (run.stdout, run.stderr):
            if sock is not None:
                self._on_output(run, sock)  # what is there now
        return run

    def vanish_client(self, run: CommandRun) -> None:
        """The client process disappears (killed and reaped: a zombie would still exist).
        From then on, only the command's end is judged: the runner's status and its end
        go to a client that is no more."""
        assert run.client is not None
        run.status_judged = False
        if run.command_exit_fd is None:
            run.judged = False  # the command has ended already
        run.client.kill()
        run.client.wait(REAP_SECONDS)

    def _command_step_text(self, run: CommandRun, state: str, within: float | None = None,
                           ) -> str:
        t = f"{self.timeout:g} s"
        label = run.slave.label
        if state == "asked":
            return (f"{label} answers C:{run.name} with one fd, its runner's AF_UNIX "
                    f"SOCK_DGRAM socket, alone on one NUL byte, within {t}")
        if state in ("attached", "headed"):
            return (f"the runner of {run.label} reads the header and the three fds on its "
                    "socket")
        if state == "starting":
            return (f"the command sends P:<pid>:{run.slave.pid}: on the runner socket "
                    f"within {t} of the three fds ({run.label})")
        if state == "running":
            return (f"{run.label} ends and its runner sends the exit status"
                    + (f" within {within:g} s" if within is not None else ""))
        if state == "finishing":
            return f"the runner sends the exit status of {run.label} within {t} of its end"
        return f"the runner of {run.label} exits once it sent the exit status"

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
        if phase == "connected":
            return (f"{session.label}, connected, sends nothing on its stream unless asked "
                    "(a runner socket after C)" if d.files_on_pipe else
                    f"{session.label}, connected, sends only loaded files unless asked")
        if phase == "command" and session.asked is not None:
            return self._command_step_text(session.asked, "asked")
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

    def _handlers(self) -> dict[int, tuple[int, Callable[[], None], Session | CommandRun | None]]:
        """fd -> (priority, handler, whose fd). Pipes are read before sockets so that a file
        written before R is never mistaken for one written after it; a command's output
        before its runner socket, and that socket before the processes' ends."""
        handlers: dict[int, tuple[int, Callable[[], None], Session | CommandRun | None]] = {}
        if self._master is not None:
            handlers[self._master.fileno()] = (3, self._on_master, None)
        for s in self.sessions:
            if s.pipe_fd is not None:
                handlers[s.pipe_fd] = (0, functools.partial(self._on_pipe, s), s)
            if s.sock is not None:
                handlers[s.sock.fileno()] = (1, functools.partial(self._on_socket, s), s)
            watch_exit = s.phase == "socket" or not self.dialect.files_on_pipe
            if s.exit_fd is not None and not s.exited and watch_exit:
                handlers[s.exit_fd] = (2, functools.partial(self._on_exit, s), s)
        for run in self.commands:
            if run.judged:
                handlers.update(self._command_handlers(run))
        return handlers

    def _command_handlers(self, run: CommandRun,
                          ) -> dict[int, tuple[int, Callable[[], None], CommandRun]]:
        handlers: dict[int, tuple[int, Callable[[], None], CommandRun]] = {}
        for sock in (run.stdout, run.stderr):
            if sock is not None:
                handlers[sock.fileno()] = (0, functools.partial(self._on_output, run, sock), run)
        if run.runner is not None and run.status_judged:
            handlers[run.runner.fileno()] = (1, functools.partial(self._on_runner, run), run)
        if run.runner_exit_fd is not None:
            handlers[run.runner_exit_fd] = (2, functools.partial(self._on_runner_exit, run), run)
        if run.command_exit_fd is not None:
            handlers[run.command_exit_fd] = (2, functools.partial(self._on_command_exit, run),
                                             run)
        return handlers

    def _serve(self, ready: list[int]) -> None:
        handlers = self._handlers()
        for _, handler, owner in sorted((handlers[fd] for fd in ready if fd in handlers),
                                        key=lambda item: item[0]):
            before = (owner.phase if isinstance(owner, Session)
                      else owner.state if isinstance(owner, CommandRun) else None)
            try:
                handler()
            except ProtocolError as error:
                # The report's Expected: is the step of whoever broke a rule, not the
                # step the case was waiting for (say, another slave's R): the state the
                # error surfaced in (one read may have taken it past several steps).
                if isinstance(owner, Session) and before is not None:
                    self.expecting = self._step_text(owner, _phase_in(error.state) or before)
                elif isinstance(owner, CommandRun) and before is not None:
                    state = (error.state or "").removeprefix("command ")
                    self.expecting = self._command_step_text(
                        owner, state if state and " " not in state else before)
                raise

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
            transport.close_quietly(sock)  # its process is the case's: the sweep ends it
            return
        try:
            group = None if peer_pid is None else processes.process_group_of(peer_pid)
            session.connection.socket_passed(kinds, received.data, peer_pid, peer_uid, group)
        except ProtocolError:
            transport.close_quietly(sock)
            self.expecting = self._step_text(session, "socket")
            raise
        session.sock = sock
        if session.exit_fd is None and peer_pid is not None:
            session.exit_fd = processes.process_handle(peer_pid)
            if session.exit_fd is None and not self.dialect.files_on_pipe:
                self._on_exit(session)  # it is gone already: its channel has ended

    def _root_group(self) -> int | None:
        """The slaves' process group: the root leads it (started in a new session)."""
        return self._root.process.pid if self._root is not None else None

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
            if received.fds and session.phase == "command":
                self._on_runner_socket(session, received)
                return
            session.connection.received(received.data)
            if received.fds and session.phase == "connected" and \
                    received.kinds[0] in UNIX_SOCKETS:
                self._on_runner_socket(session, received)  # no C asked for it: CMD-2
                return
            if received.fds:
                session.connection.fd_passed(received.kinds)
                session.pipe_fd = received.keep(0)
                transport.set_nonblocking(session.pipe_fd)
        finally:
            received.close()

    def _on_runner_socket(self, session: Session, received: transport.Received) -> None:
        """zeus, after C: the fd on the slave's stream and the bytes that came with it (one
        NUL, no more: the real master reads one byte per fd) answer C (CMD-2)."""
        run = session.asked
        peer_pid = peer_uid = None
        if len(received.fds) == 1 and received.kinds[0] in UNIX_SOCKETS:
            probe = socket.socket(fileno=os.dup(received.fds[0]))
            with contextlib.closing(probe):
                creds = transport.peer_credentials(probe)
            peer_pid, peer_uid = creds.pid, creds.uid
        kinds = received.kinds
        session.connection.runner_passed(kinds, received.data, peer_pid, peer_uid)
        assert run is not None  # a runner socket no C asked for was refused just above
        run.machine.handle(RunnerPassed(kinds, received.data, peer_pid, peer_uid))
        parent = None if peer_pid is None else processes.parent_pid_of(peer_pid)
        if parent is not None and parent != session.pid:  # None: it ended already
            raise Violation("CMD-2", self._command_step_text(run, "asked")
                            + f", made by a runner {session.label} forked",
                            f"the runner socket was made by pid {peer_pid}, whose parent is "
                            f"{parent}, not {session.label} ({session.pid})")
        session.asked = None
        run.runner = transport.adopt_socket(received.keep(0))
        run.runner.setblocking(False)
        if peer_pid is not None:
            run.runner_exit_fd = processes.process_handle(peer_pid)
            if run.runner_exit_fd is None:
                self._on_runner_exit(run)  # gone already: what it sent is still queued

    # ---- a command's fds ----------------------------------------------------

    def _on_runner(self, run: CommandRun) -> None:
        """What the command (its P) and the runner (the exit status) sent."""
        assert run.runner is not None
        received = transport.receive(run.runner, 0)
        if received is None:
            return
        received.close()  # nothing passes fds to the master here
        gone = False
        try:
            messages = run.decoder.feed(received.data)
        except ProtocolError as error:
            for message in error.salvaged:
                self._feed_command(run, message)
            raise error.with_state(f"command {run.state}") from None
        for message in messages:
            if self._feed_command(run, message):
                gone = True
        if gone and run.state == "running":
            run.machine.handle(CommandEnded())  # it had ended (and was reaped) already

    def _feed_command(self, run: CommandRun, message: CommandPid | object) -> bool:
        """Feed one message; True when it was a P whose process is already gone."""
        run.machine.handle(message)
        if isinstance(message, CommandPid):
            run.command_exit_fd = processes.process_handle(message.pid)
            return run.command_exit_fd is None
        return False

    def _drain_runner(self, run: CommandRun) -> None:
        while (run.runner is not None and run.judged and run.status_judged
               and transport.wait_readable([run.runner.fileno()], 0)):
            self._on_runner(run)

    def _on_runner_exit(self, run: CommandRun) -> None:
        if not run.status_judged:
            transport.close_quietly(run.runner_exit_fd)
            run.runner_exit_fd = None
            return
        self._drain_runner(run)  # a status sent just before the exit is still queued
        transport.close_quietly(run.runner_exit_fd)
        run.runner_exit_fd = None
        run.machine.handle(ChannelClosed())  # before the status: CMD-8

    def _on_command_exit(self, run: CommandRun) -> None:
        self._drain_runner(run)
        transport.close_quietly(run.command_exit_fd)
        run.command_exit_fd = None
        if run.state in ("running", "exited"):
            run.machine.handle(CommandEnded())
        if not run.status_judged:
            run.judged = False  # its end was all the case waited for

    def _on_output(self, run: CommandRun, sock: socket.socket) -> None:
        buffer = run.out if sock is run.stdout else run.err
        for _ in range(PIPE_READS_PER_WAKE):
            try:
                chunk = sock.recv(65_536)
            except BlockingIOError:
                return
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                sock.close()
                if sock is run.stdout:
                    run.stdout = None
                else:
                    run.stderr = None
                return
            if len(buffer) < MAX_OUTPUT:
                buffer += chunk[: MAX_OUTPUT - len(buffer)]

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
        """End every process of the case, count them, close every fd.

        The processes are the ones carrying this case's mark in their environment (a
        runner calls setsid; an orphan is reparented to the checker, a child
        subreaper, or to init) and the descendants of those and of the root. They are
        stopped (SIGSTOP: nothing forks any more) until no new one shows up, then
        killed by pidfd and reaped, every wait bounded.
        """
        try:
            self.sweep = self._sweep()
        finally:
            for run in self.commands:
                self._close_command(run)
            for session in self.sessions:
                for fd in (session.pipe_fd, session.exit_fd):
                    transport.close_quietly(fd)
                transport.close_quietly(session.sock)
                session.pipe_fd = session.exit_fd = session.sock = None
            transport.close_quietly(self._master)
            self._master = None
            for launched in self._launched:
                launched.stderr.close()
            self._launched.clear()
            self._root = None

    def _close_command(self, run: CommandRun) -> None:
        for item in (run.runner, run.stdout, run.stderr, run.runner_exit_fd,
                     run.command_exit_fd):
            transport.close_quietly(item)
        run.runner = run.stdout = run.stderr = None
        run.runner_exit_fd = run.command_exit_fd = None
        if run.client is not None and run.client.poll() is None:
            run.client.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.client.wait(REAP_SECONDS)

    def _sweep(self) -> Sweep:
        found, groups = self._stop_everything()
        root_group = self._root.process.pid if self._root else None
        try:
            for handle in found.values():
                _signal(handle, signal.SIGKILL)
            self._reap(found)
            survivors = tuple(sorted(pid for pid in found if _alive(pid)))
        finally:
            for handle in found.values():
                transport.close_quietly(handle)
        outside = sum(1 for pid, group in groups.items() if group != root_group)
        return Sweep(len(groups), outside, survivors)

    def _stop_everything(self) -> tuple[dict[int, int], dict[int, int]]:
        """Find the case's processes and stop them, round after round, until no new one
        appears: pid -> pidfd, and pid -> its process group then (zombies left out).

        A process is the case's when the judge started it, when it carries the case's
        mark, or when it descends from one that is. A pid the slave merely named (in P,
        or as the creator of a socket) is never enough: a broken slave could name any
        process, pid 1 included.
        """
        me = os.getpid()
        launched = {one.process.pid for one in self._launched}
        clients = {run.client.pid for run in self.commands if run.client is not None}
        found: dict[int, int] = {}
        groups: dict[int, int] = {}
        for _ in range(SWEEP_ROUNDS):
            table = processes.process_table()
            ours = (launched & table.keys()) | found.keys() | {
                pid for pid, facts in table.items()
                if facts.started >= self._since and pid not in found
                and processes.has_environment(pid, self._mark)}
            ours |= processes.descendants(ours, table)
            new = ours - found.keys() - clients - {me}
            if not new:
                break
            for pid in new:
                handle = processes.process_handle(pid)
                if handle is not None:
                    found[pid] = handle
                    if not table[pid].zombie:  # a zombie has ended already: not counted
                        groups[pid] = table[pid].pgid
                    _signal(handle, signal.SIGSTOP)
        return found, groups

    def _reap(self, found: dict[int, int]) -> None:
        """Wait (bounded) until the killed processes have died, then reap them: the root
        by its Popen, the rest when they are (or came back to be) children of ours;
        the others are reaped by their own parents."""
        clock = transport.Clock(REAP_SECONDS)
        dying = set(found.values())
        while dying and not clock.expired:
            dying -= set(transport.wait_readable(dying, clock.remaining()))
        launched = {one.process.pid for one in self._launched}
        for one in self._launched:
            with contextlib.suppress(subprocess.TimeoutExpired):
                one.process.wait(clock.remaining())
        me = os.getpid()
        unreaped = {pid: h for pid, h in found.items() if pid not in launched}
        while unreaped:
            for pid, handle in list(unreaped.items()):
                parent = processes.parent_pid_of(pid)
                if parent != me or processes.reap_child(handle):
                    del unreaped[pid]  # gone, reaped now, or its reaper is another's (init)
            if not unreaped or clock.expired:
                return
            time.sleep(0.005)


def _phase_in(state: str | None) -> str | None:
    """The handshake phase a ProtocolError's state names ("up_result_connected,
    up_files_open" is connected), as Handshake.phase would say it."""
    leaves = [leaf.strip() for leaf in (state or "").split(",") if leaf.strip()]
    for leaf in leaves:
        if leaf.startswith("up_result_"):
            return leaf.removeprefix("up_result_")
    return leaves[0] if leaves and not leaves[0].startswith(("up", "command")) else None


def _signal(handle: int, signum: int) -> None:
    """Signal a process of the case by pidfd; one that became another user's (a setuid
    program) is out of reach, and is then reported as a survivor, not a crash."""
    with contextlib.suppress(PermissionError):
        processes.signal_process(handle, signum)


def _alive(pid: int) -> bool:
    """Exists and has not exited (a zombie has: only its reaper is missing)."""
    fields = processes.process_table_entry(pid)
    return fields is not None and not fields.zombie


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _phase_left(session: Session, phase: str) -> Callable[[], bool]:
    return lambda: session.phase != phase



def _shown(identifier: str, keep: int = 48) -> str:
    """An identifier as a label shows it: a long one (FRAME-3's case) cut, its length said."""
    if len(identifier) <= keep:
        return repr(identifier)
    return f"{identifier[:keep]!r}... ({len(identifier)} characters)"
