"""A command's runner and the command itself: what a zeus slave forks for each `C:<name>`.

The slave forks the runner and goes back to serving S and C at once; the
runner does the rest (spec/handshake.md §9), each step through the machines
first, then on the wire, like the slave itself::

    runner:  setsid -> socketpair (SOCK_DGRAM) -> one end over the slave's stream
             -> header <client_pid>:<argc> -> three fds -> the arguments to EOF
             -> fork the command -> wait (watching the client) -> <code>
    command: P:<pid>:<slave_pid>: -> stdin/stdout/stderr on the client's fds
             -> sys.argv = [name, *args] -> the plan's method -> exit status

Where Zeus's Ruby runner is wrong, this one is not: empty and non-UTF-8 arguments
are kept exactly, a death by signal N is 128+N (not 0), it never signals the
client, and it sends the status even when it had to kill the command (the client
gone, or a SIGTERM for the runner, which it passes on to the command).

Imported by the slave only when the first C arrives: start-up stays light.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import NoReturn

import attrs

from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.command import (
    RUNNER_PAYLOAD,
    Command,
    CommandExpectation,
)
from zeus_fsm.protocol.errors import (
    BadDescriptor,
    FrameTooLarge,
    ProtocolError,
    Role,
    StepTimeout,
)
from zeus_fsm.protocol.events import ClientFdsPassed, CommandEnded, RunnerPassed
from zeus_fsm.protocol.machine import Handshake
from zeus_fsm.protocol.messages import CommandPid, ExitStatus, RunnerHeader, SpawnCommand
from zeus_fsm.transport import drain, processes
from zeus_fsm.transport import fds as transport

#: Each wait for the master: the header, each fd, the arguments' end of file; and each send.
STEP_TIMEOUT = 10.0
#: How often the runner looks for the client while the command runs (CMD-9: at least 1/s).
CLIENT_CHECK = 0.25
#: How long the status waits for the client to read the command's last output.
DRAIN_TIMEOUT = 0.2
#: The exit status of a command the plan does not have (a shell's "command not found").
EXIT_NOT_FOUND = 127
#: Python's own exit status when flushing stdout fails at exit.
EXIT_FLUSH_FAILED = 120

_CLIENT_FDS = ("arguments", "stdout", "stderr")


@attrs.frozen
class RunnerSetup:
    """What the forked runner takes from the slave that forked it."""

    stream: socket.socket  # the slave's stream (the same socket as the slave's)
    name: str  # the command, as C named it
    slave_pid: int
    plan: object
    handshake: Handshake  # the slave's, copied by fork: waiting for this runner's socket
    notice: int  # write end of a pipe: one byte once the runner socket went out
    #: The slave's own fds and sockets, which the runner and its command must not keep.
    foreign: tuple[int | socket.socket | None, ...]
    #: Writes one line to the slave's log.
    log: Callable[[str], None]


def run(setup: RunnerSetup) -> NoReturn:
    """The runner process, from just after the slave's fork to its exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # before any waitpid: the slave's handler
    runner = _Runner(setup)
    try:
        code = runner.run()
    except (ProtocolError, OSError, TimeoutError) as error:
        code = runner.fail(error)
    _exit(code)


class _Runner:
    def __init__(self, setup: RunnerSetup) -> None:
        self.setup = setup
        self.machine = Command(CommandExpectation(slave_pid=setup.slave_pid))
        self.socket: socket.socket | None = None
        self.client_fds: list[int] = []
        #: The client's stderr once all three fds arrived: where a failure is told too.
        self.client_stderr: int | None = None
        self.command_pid: int | None = None

    def run(self) -> int:
        setup = self.setup
        os.setsid()  # its own session: the client's terminal signals are the client's to send
        _name_process(f"zeus-run {setup.name}")
        for item in setup.foreign:
            transport.close_quietly(item)
        self.send_socket()
        header = self.receive_header()
        self.receive_fds()
        args = self.receive_arguments(header.argc)
        return self.run_command(header.client_pid, args)

    # ---- the runner socket, over the slave's stream (CMD-2) -------------------------------

    def send_socket(self) -> None:
        setup = self.setup
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket = mine
        try:
            peer = transport.peer_credentials(theirs)
            passed = RunnerPassed(kinds=(transport.fd_kind(theirs.fileno()),),
                                  payload=RUNNER_PAYLOAD, peer_pid=peer.pid, peer_uid=peer.uid)
            setup.handshake.handle(passed)  # the slave's rules first, as the slave does
            self.machine.handle_all([SpawnCommand(setup.name), passed])
            transport.send_fds_polled(setup.stream, RUNNER_PAYLOAD, [theirs.fileno()],
                                      STEP_TIMEOUT)
        finally:
            theirs.close()
            transport.close_quietly(setup.stream)  # or the master would see no EOF at its end
        # The slave may take the next C now (CMD-1): its machine waits for this byte.
        os.write(setup.notice, b"s")
        os.close(setup.notice)

    # ---- from the master (CMD-3, CMD-4) ------------------------------------------------------

    def _receive(self, what: str) -> transport.Received:
        assert self.socket is not None
        received = transport.receive(self.socket, STEP_TIMEOUT)
        if received is None:
            raise StepTimeout(f"no {what} arrived on the runner socket within "
                              f"{STEP_TIMEOUT:g} s", culprit=Role.MASTER, requirement="CMD-3",
                              state=f"command {self.machine.state}")
        return received

    def receive_header(self) -> RunnerHeader:
        received = self._receive("header")
        if received.fds:
            received.close()
            raise BadDescriptor("the header came with an fd", culprit=Role.MASTER,
                                requirement="CMD-3", data=received.data)
        header = command_wire.decode_header(received.data)
        self.machine.handle(header)
        return header

    def receive_fds(self) -> None:
        for what in _CLIENT_FDS:
            received = self._receive(f"{what} fd")
            if len(received.fds) != 1 or received.data != RUNNER_PAYLOAD:
                count = len(received.fds)
                received.close()
                raise BadDescriptor(f"the {what} fd must come alone on one NUL byte; got "
                                    f"{count} fd(s)", culprit=Role.MASTER, requirement="CMD-3",
                                    data=received.data)
            self.client_fds.append(received.keep(0))
        self.client_stderr = self.client_fds[-1]
        kinds = tuple(transport.fd_kind(fd) for fd in self.client_fds)
        self.machine.handle(ClientFdsPassed(kinds))

    def receive_arguments(self, argc: int) -> tuple[bytes, ...]:
        arguments_fd = self.client_fds.pop(0)
        try:
            data = drain.read_to_eof(arguments_fd, STEP_TIMEOUT,
                                         command_wire.MAX_ARGUMENT_BYTES)
        except TimeoutError:
            raise StepTimeout(f"the arguments fd gave no end of file within {STEP_TIMEOUT:g} s",
                              culprit=Role.MASTER, requirement="CMD-4") from None
        except drain.TooMuchData as error:
            raise FrameTooLarge(str(error), culprit=Role.MASTER, requirement="CMD-4") from None
        finally:
            os.close(arguments_fd)
        return command_wire.decode_arguments(data, argc).args

    # ---- the command ---------------------------------------------------------------------

    def run_command(self, client_pid: int, args: Sequence[bytes]) -> int:
        out_fd, err_fd = self.client_fds
        _flush_stdio()
        pid = os.fork()
        if pid == 0:
            _command(self.setup, self.machine, self.socket, out_fd, err_fd, args)
        self.command_pid = pid
        with contextlib.suppress(OSError):  # the child does it too: whoever runs first
            os.setpgid(pid, pid)
        # A TERM for the runner ends its command (and the command's children) too: then
        # the status goes out as usual and nothing of the command outlives its runner.
        signal.signal(signal.SIGTERM, lambda *_: processes.kill_group(pid, signal.SIGTERM))
        self.machine.handle(CommandPid(pid, self.setup.slave_pid))  # the command sends it
        code = self.wait_command(pid, client_pid)
        self.machine.handle(CommandEnded())
        drain.drain_output([out_fd, err_fd], DRAIN_TIMEOUT)
        for fd in self.client_fds:
            os.close(fd)
        self.client_fds.clear()
        self.client_stderr = None
        status = ExitStatus(code)
        self.machine.handle(status)
        assert self.socket is not None
        transport.send_polled(self.socket, command_wire.encode(status), STEP_TIMEOUT)
        return 0

    def wait_command(self, pid: int, client_pid: int) -> int:
        """The command's exit status; the command is killed once the client is gone (CMD-9)."""
        handle = processes.process_handle(pid)
        try:
            killed = False
            while handle is not None and not processes.wait_exit(handle, CLIENT_CHECK):
                if not killed and not processes.process_exists(client_pid):
                    self.setup.log(f"command {self.setup.name!r} (pid {pid}): client "
                                   f"{client_pid} is gone; killing it (CMD-9)")
                    if not processes.kill_group(pid):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    killed = True
            _, wait_status = os.waitpid(pid, 0)  # it exited: this does not block
        finally:
            transport.close_quietly(handle)
        self.command_pid = None
        return processes.exit_status(wait_status)

    # ---- when something went wrong ----------------------------------------------------------

    def fail(self, error: BaseException) -> int:
        """Say what went wrong (the slave's log and the client's stderr), end the command.

        No status follows: the exchange is broken, and the master sees the runner end.
        The client is never signalled (the Ruby runner sends it SIGTERM).
        """
        text = f"command {self.setup.name!r}: {type(error).__name__}: {error}"
        self.setup.log(text)
        if self.client_stderr is not None:
            with contextlib.suppress(OSError):
                os.write(self.client_stderr, f"zeus_fsm runner: {text}\n".encode(
                    "utf-8", "backslashreplace"))
        if self.command_pid is not None:
            processes.kill_group(self.command_pid)
            with contextlib.suppress(OSError):
                os.waitpid(self.command_pid, 0)
        return 1


def _command(setup: RunnerSetup, machine: Command, runner_socket: socket.socket | None,
             out_fd: int, err_fd: int, args: Sequence[bytes]) -> NoReturn:
    """The command process: P, then the client's fds as stdio, then the plan's method."""
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)  # its own group: the runner kills the command with its children
        _name_process(f"zeus-cmd {setup.name}")
        message = CommandPid(os.getpid(), setup.slave_pid)
        machine.handle(message)
        assert runner_socket is not None
        transport.send_polled(runner_socket, command_wire.encode(message), STEP_TIMEOUT)
        runner_socket.close()
        _become_stdio(out_fd, err_fd)
        sys.argv = [setup.name, *(os.fsdecode(arg) for arg in args)]
    except BaseException as error:  # stdio may be half made: the slave's log it is
        setup.log(f"command {setup.name!r} could not start: {type(error).__name__}: {error}")
        os._exit(1)
    _exit(run_plan_command(setup.plan, setup.name))


def _become_stdio(out_fd: int, err_fd: int) -> None:
    """stdin and stdout on the stdout fd, stderr on the stderr fd (CMD-6), and Python's
    streams rebuilt on them: the slave's were made for its own stdio."""
    # Lift both above 2 first, so no dup2 below overwrites the other one.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3) for fd in (out_fd, err_fd)]
    for fd in (out_fd, err_fd):
        os.close(fd)
    os.dup2(high[0], 0)
    os.dup2(high[0], 1)
    os.dup2(high[1], 2)
    for fd in high:
        os.close(fd)
    # surrogateescape: a non-UTF-8 argument printed back comes out as the bytes it came in as.
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape",  # noqa: SIM115
                     closefd=False)
    sys.stdout = open(1, "w", buffering=1 if os.isatty(1) else -1,  # noqa: SIM115
                      encoding="utf-8", errors="surrogateescape", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                      errors="backslashreplace", closefd=False)


def run_plan_command(plan: object, name: str) -> int:
    """Run the plan's method for `name` in this process; its exit status, as Python gives one.

    The method's return value is read like sys.exit()'s argument (None is 0). An
    uncaught error prints its traceback on stderr and gives 1 (CMD-12); an uncaught
    KeyboardInterrupt ends the process by SIGINT, as Python does; a name the plan does
    not have gives 127 and one line on stderr (CMD-11).
    """
    from zeus_fsm.slave.reference import plan_action

    try:
        method = plan_action(plan, name, "command")
    except LookupError as error:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"zeus_fsm.slave: {error}\n")
        return _flushed(EXIT_NOT_FOUND)
    try:
        result = method()
    except SystemExit as stop:
        return _flushed(_exit_code(stop.code))
    except KeyboardInterrupt as error:
        traceback.print_exception(error.with_traceback(_plan_frames(error.__traceback__)))
        _flushed(0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
        return 128 + signal.SIGINT  # not reached: SIGINT ends the process
    except BaseException as error:
        traceback.print_exception(error.with_traceback(_plan_frames(error.__traceback__)))
        return _flushed(1)
    return _flushed(_exit_code(result))


def _exit_code(code: object) -> int:
    """What the interpreter makes of sys.exit(code)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(OSError, ValueError):
        print(code, file=sys.stderr)
    return 1


def _flushed(code: int) -> int:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        code = code or EXIT_FLUSH_FAILED
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    return code


def _plan_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop the runner's own frames from the top: the traceback starts in the plan."""
    while tb is not None and tb.tb_frame.f_globals is globals():
        tb = tb.tb_next
    return tb


def _name_process(name: str) -> None:
    """What `ps -o comm` and `top` show (15 bytes): a runner or command among the slaves."""
    with contextlib.suppress(OSError), open("/proc/self/comm", "w", encoding="utf-8") as comm:
        comm.write(name[:15])


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _exit(code: int) -> NoReturn:
    """Leave now: flush stdio, skip atexit handlers and whatever fork copied."""
    _flush_stdio()
    os._exit(code)
