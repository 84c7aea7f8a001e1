"""`zeus-fsm run`: run a command through a running master, like a local process.

Speaks the client path of spec/handshake.md section 10 (the same wire as the
real `zeus` client, so it works with the real Go master too): `T`, the
arguments socketpair, a stdout and a stderr fd, then it relays output and
input until the master sends the exit status, which becomes its own.

When stdout (or stderr) is a terminal, the command gets a pseudo-terminal for
it, sized like ours; once the command runs, our terminal goes to raw mode and
^C, ^\\ and ^Z become SIGINT, SIGQUIT and SIGTSTP for the command (it has no
controlling terminal of its own). Signals sent to this process are passed on to
the command. Every way out restores the terminal. Every wait before the
command runs is bounded; a running command may run for as long as it likes.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import sys
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from types import FrameType

import attrs

from zeus_fsm.protocol import client_wire
from zeus_fsm.protocol.client import ClientExchange, ClientFdPassed, MasterClosed
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.events import Deadline
from zeus_fsm.protocol.messages import CommandRequest, CommandStarted, ExitStatus
from zeus_fsm.transport import terminal, unix_socket
from zeus_fsm.transport.fds import Clock, close_quietly, fd_kind, send_with_fds

#: Exit statuses of `zeus-fsm run` itself, when the command's own is not to be had.
EXIT_FAILED = 1
EXIT_UNKNOWN_COMMAND = 127
#: How long output may keep coming after the exit status (a grandchild holding the pty).
DRAIN_SECONDS = 2.0
#: How long the master may take to say the command runs (it may be booting its slave).
PID_TIMEOUT = 60.0
_CHUNK = 65_536
#: Keys that become signals for the command in raw mode (the terminal would send them).
_KEY_SIGNALS = {0x03: signal.SIGINT, 0x1C: signal.SIGQUIT, 0x1A: signal.SIGTSTP}
#: Signals passed on to the command (WINCH also resizes its terminals first).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2, signal.SIGALRM, signal.SIGWINCH, signal.SIGCONT)


class RunError(Exception):
    """The command could not be run; `status` is what `zeus-fsm run` exits with."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


@attrs.define
class _Stream:
    """One of the command's output streams: our end, and where its bytes go."""

    ours: int
    sink: int
    is_pty: bool
    open: bool = True


class Client:
    """One `zeus-fsm run`: `run()` returns the command's exit status or raises RunError."""

    def __init__(self, command: str, args: Sequence[bytes], socket_path: Path, *,
                 stdin: int = 0, stdout: int = 1, stderr: int = 2,
                 pid_timeout: float = PID_TIMEOUT) -> None:
        self.command = command
        self.args = list(args)
        self.socket_path = socket_path
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.pid_timeout = pid_timeout
        self.exchange = ClientExchange()
        self.pid: int | None = None
        self.status: int | None = None
        self._replies = client_wire.ReplyDecoder()
        self._pending_args = b""
        self._args_fd: int | None = None
        self._stdin_open = True
        self._raw: ExitStack | None = None
        self._signals: list[int] = []
        self._streams: list[_Stream] = []

    # ---- the whole run -------------------------------------------------------------

    def run(self) -> int:
        with ExitStack() as stack:
            conn = self._connect()
            stack.callback(conn.close)
            streams = self._make_streams(stack)
            self._streams = list(streams[:2])
            self._send_request(conn, streams)
            stack.enter_context(self._signals_caught())
            self._raw = stack.enter_context(ExitStack())
            self._relay(conn, streams)
            self._drain(streams)
        assert self.status is not None
        return self.status

    def _connect(self) -> socket.socket:
        try:
            return unix_socket.connect(self.socket_path, 5.0)
        except OSError as error:
            raise RunError(f"no master is running: cannot connect to {self.socket_path} "
                           f"({error.strerror or error})") from None

    def _make_streams(self, stack: ExitStack) -> tuple[_Stream, _Stream, list[int]]:
        """Our ends of stdout and stderr (a pty when ours is a terminal, else a
        socketpair), and the fds to send: arguments, stdout, stderr."""
        theirs: list[int] = []
        args_ours, args_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self._args_fd = args_ours.detach()
        theirs.append(args_theirs.detach())
        self._pending_args = b"".join(arg + b"\0" for arg in self.args)
        made: list[_Stream] = []
        for sink in (self.stdout, self.stderr):
            if terminal.is_terminal(sink):
                ours, other = terminal.open_pty()
                size = terminal.window_size(sink)
                if size is not None:
                    terminal.set_window_size(ours, size)
                made.append(_Stream(ours, sink, True))
            else:
                a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                ours, other = a.detach(), b.detach()
                made.append(_Stream(ours, sink, False))
            theirs.append(other)
        for fd in (self._args_fd, made[0].ours, made[1].ours, *theirs):
            stack.callback(close_quietly, fd)
        return made[0], made[1], theirs

    def _send_request(self, conn: socket.socket,
                      streams: tuple[_Stream, _Stream, list[int]]) -> None:
        request = CommandRequest(len(self.args), os.getpid(), self.command)
        self._feed(request)
        try:
            conn.sendall(client_wire.encode(request))
            for fd in streams[2]:
                self._feed(ClientFdPassed((fd_kind(fd),)))
                send_with_fds(conn, client_wire.FD_PAYLOAD, [fd])
        except OSError:  # the real master closes at once for a command it does not know
            self._feed(MasterClosed())
        for fd in streams[2]:
            close_quietly(fd)  # the master has them now; ours would keep the command's EOF away

    # ---- relaying ------------------------------------------------------------------

    def _relay(self, conn: socket.socket, streams: tuple[_Stream, _Stream, list[int]]) -> None:
        out, err, _ = streams
        clock = Clock(self.pid_timeout)
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        old_wakeup = signal.set_wakeup_fd(wake_write)
        try:
            while self.status is None:
                poller = select.poll()
                poller.register(conn, select.POLLIN)
                poller.register(wake_read, select.POLLIN)
                for stream in (out, err):
                    if stream.open:
                        poller.register(stream.ours, select.POLLIN)
                if self._stdin_open and out.open:
                    poller.register(self.stdin, select.POLLIN)
                if self._args_fd is not None:
                    poller.register(self._args_fd, select.POLLOUT)
                wait = None if self.pid is not None else clock.remaining()
                ready = {fd for fd, _ in poller.poll(None if wait is None else wait * 1000)}
                if self.pid is None and clock.expired and not ready:
                    self._feed(Deadline(self.pid_timeout))
                self._forward_signals(wake_read)
                if self._args_fd in ready:
                    self._write_args()
                for stream in (out, err):
                    if stream.ours in ready:
                        self._copy_out(stream)
                if self.stdin in ready:
                    self._copy_in(out)
                if conn.fileno() in ready:
                    self._read_replies(conn)
        finally:
            signal.set_wakeup_fd(old_wakeup)
            close_quietly(wake_read)
            close_quietly(wake_write)

    def _read_replies(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(_CHUNK)
        except ConnectionResetError:  # closed with our request unread: a close all the same
            data = b""
        except OSError as error:
            raise RunError(f"the connection to the master failed: {error}") from None
        if not data:
            self._replies.close()
            self._feed(MasterClosed())  # raises: only after the status may it close
            return
        for message in self._replies.feed(data):
            self._feed(message)
            if isinstance(message, CommandStarted):
                self._started(message)
            elif isinstance(message, ExitStatus):
                self.status = message.code

    def _started(self, message: CommandStarted) -> None:
        self.pid = message.pid
        if message.crashed:
            return
        if terminal.is_terminal(self.stdin) and self._raw is not None:
            self._raw.enter_context(terminal.raw_mode(self.stdin))

    def _write_args(self) -> None:
        assert self._args_fd is not None
        try:
            sent = os.write(self._args_fd, self._pending_args[:_CHUNK]) \
                if self._pending_args else 0
        except BlockingIOError:
            return
        except OSError:  # the runner is gone; its status will say so
            sent = len(self._pending_args)
        self._pending_args = self._pending_args[sent:]
        if not self._pending_args:
            close_quietly(self._args_fd)  # end of file: the arguments are complete
            self._args_fd = None

    def _copy_out(self, stream: _Stream) -> None:
        try:
            data = os.read(stream.ours, _CHUNK)
        except OSError as error:
            if error.errno != errno.EIO:  # a pty whose other side is closed says EIO
                raise
            data = b""
        if not data:
            stream.open = False
            return
        _write_all(stream.sink, data)

    def _copy_in(self, out: _Stream) -> None:
        try:
            data = os.read(self.stdin, _CHUNK)
        except OSError:
            data = b""
        if not data:
            self._stdin_open = False
            if out.is_pty:
                if not terminal.is_terminal(self.stdin):
                    _write_all(out.ours, b"\x04")  # a piped stdin's end: EOF at the pty
            else:
                with suppress(OSError):
                    socket.socket(fileno=os.dup(out.ours)).shutdown(socket.SHUT_WR)
            return
        if terminal.is_terminal(self.stdin) and self.pid:
            for key, signum in _KEY_SIGNALS.items():
                if key in data:
                    self._signal_command(signum)
        _write_all(out.ours, data)

    def _drain(self, streams: tuple[_Stream, _Stream, list[int]]) -> None:
        """After the status: what the command wrote is still on its way; read it to the
        end (bounded: a grandchild may hold the terminal open)."""
        clock = Clock(DRAIN_SECONDS)
        live = [s for s in streams[:2] if s.open]
        while live and not clock.expired:
            ready, _, _ = select.select([s.ours for s in live], [], [], clock.remaining())
            for stream in live:
                if stream.ours in ready:
                    self._copy_out(stream)
            live = [s for s in live if s.open]

    # ---- signals -------------------------------------------------------------------

    @contextmanager
    def _signals_caught(self) -> Iterator[None]:
        def note(signum: int, _frame: FrameType | None) -> None:
            self._signals.append(signum)

        old = {signum: signal.signal(signum, note) for signum in FORWARDED}
        try:
            yield
        finally:
            for signum, handler in old.items():
                signal.signal(signum, handler)

    def _forward_signals(self, wake_read: int) -> None:
        with suppress(BlockingIOError):
            while os.read(wake_read, 512):
                pass
        pending, self._signals = self._signals, []
        for signum in pending:
            if signum == signal.SIGWINCH:
                self._resize()
            if self.pid:
                self._signal_command(signum)
            elif signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                raise RunError(f"interrupted by {signal.Signals(signum).name} before the "
                               "command started", 128 + signum)

    def _resize(self) -> None:
        for stream in self._streams:
            size = terminal.window_size(stream.sink)
            if stream.is_pty and size is not None:
                terminal.set_window_size(stream.ours, size)

    def _signal_command(self, signum: int) -> None:
        assert self.pid
        with suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signum)
        if signum == signal.SIGTSTP:
            self._suspend()

    def _suspend(self) -> None:
        """^Z: the command is stopped; so are we, with the terminal as we found it."""
        assert self._raw is not None
        self._raw.close()
        os.kill(os.getpid(), signal.SIGSTOP)
        # Continued: raw again, and the command goes on too.
        if terminal.is_terminal(self.stdin):
            self._raw.enter_context(terminal.raw_mode(self.stdin))
        assert self.pid
        with suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGCONT)

    def _feed(self, event: object) -> None:
        try:
            self.exchange.handle(event)
        except ProtocolError as error:
            raise _run_error(error, self.command, self.socket_path) from None


def _run_error(error: ProtocolError, command: str, path: Path) -> RunError:
    if error.requirement == "CLIENT-8":
        return RunError(f"the master at {path} has no command {command!r}",
                        EXIT_UNKNOWN_COMMAND)
    if error.requirement == "CLIENT-5" and error.culprit.value == "master":
        return RunError(f"the master closed the connection before {command!r} ended "
                        "(did the master stop?)")
    return RunError(f"{error}")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
        except BrokenPipeError:
            return  # the reader left (`| head`): the rest has nowhere to go


def run(command: str, args: Sequence[bytes], socket_path: Path) -> int:
    """The `run` command's body: the exit status, errors as one line on stderr."""
    client = Client(command, args, socket_path)
    try:
        status = client.run()
    except RunError as error:
        sys.stderr.write(f"zeus-fsm run: {error}\n")
        return error.status
    if client.pid == 0:
        sys.stderr.write(f"zeus-fsm run: {command!r} did not run: its slave has crashed, "
                         "or the master could not start it (the reason is above)\n")
    return status
