"""A hostile slave: one process that can misbehave in many ways (raw sockets, no zeus_fsm).

    python slave.py DIALECT ROOT_BEHAVIOUR [ONCE_FILE]

The root behaves as ROOT_BEHAVIOUR (normally `ok`); with ONCE_FILE, only the
first root does (it creates the file) and a root booted again behaves `ok`. Each S:<identifier> it
receives forks a child that behaves as the behaviour named by the identifier
up to its first dot (`flood.100000` is `flood` with argument 100000), so a
test picks a hostile child by the identifier it spawns and then checks that
the same master still serves an `ok` child. See README.md for the catalogue.

Written against the wire, not against zeus_fsm's code, so the master is
judged by an independent peer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import Callable

DIALECT, ROOT_BEHAVIOUR = sys.argv[1], sys.argv[2]
ZEUS = DIALECT == "zeus"
MASTER = socket.socket(fileno=int(os.environ["ZEUS_MASTER_FD"]))
HANG = 30.0  # "hangs": far beyond any test's step timeout; the master must kill us
OWN_TYPE = socket.SOCK_STREAM if ZEUS else socket.SOCK_DGRAM
WRONG_TYPE = socket.SOCK_DGRAM if ZEUS else socket.SOCK_STREAM


def hang() -> None:
    time.sleep(HANG)
    os._exit(0)


class Slave:
    """One slave process: its identifier, its parent pid, its socket and pipe."""

    def __init__(self, identifier: str, parent_pid: int) -> None:
        self.identifier = identifier
        self.behaviour, _, arg = identifier.partition(".")
        self.arg = int(arg) if arg.isdigit() else 0
        self.parent_pid = parent_pid
        self.local: socket.socket | None = None
        self.pipe_w: int | None = None

    # ---- steps, each a piece of the good handshake ----------------------------------

    def register(self, sock_type: int = OWN_TYPE) -> None:
        """Step 1: a new socketpair; `remote` goes to the master with payload NUL."""
        local, remote = socket.socketpair(socket.AF_UNIX, sock_type)
        socket.send_fds(MASTER, [b"\0"], [remote.fileno()])
        remote.close()
        self.local = local

    def send(self, message: bytes) -> None:
        assert self.local is not None
        if ZEUS:
            self.local.sendall(message + b"\0")
        else:
            self.local.send(message)

    def pid_message(self, pid: bytes | None = None, identifier: bytes | None = None) -> bytes:
        pid = b"%d" % os.getpid() if pid is None else pid
        ident = self.wire_identifier() if identifier is None else identifier
        if ZEUS:
            return b"P:%s:%d:%s" % (pid, self.parent_pid, ident)
        return b"P:%s:%s" % (pid, ident)

    def wire_identifier(self) -> bytes:
        if self.parent_pid == 0:
            return b"boot" if ZEUS else b""
        return self.identifier.encode()

    def pid(self) -> None:
        self.send(self.pid_message())

    def pipe(self) -> None:
        """zeus: the read end of the loaded-files pipe, right after P."""
        if not ZEUS:
            return
        assert self.local is not None
        r, w = os.pipe()
        socket.send_fds(self.local, [b"\0"], [r])
        os.close(r)
        self.pipe_w = w

    def files(self, paths: list[bytes]) -> None:
        if ZEUS:
            assert self.pipe_w is not None
            data = b"".join(p + b"\n" for p in paths)
            view = memoryview(data)
            while view:
                view = view[os.write(self.pipe_w, view):]
        else:
            for path in paths:
                self.send(b"F:" + path)

    def ok(self) -> None:
        self.send(b"R:OK")

    def handshake(self) -> None:
        self.register()
        self.pid()
        self.pipe()

    def serve(self) -> None:
        """Connected: fork a child for each S, until the master closes the socket."""
        assert self.local is not None
        while True:
            data = self.local.recv(65536)
            if not data:
                os._exit(0)
            for frame in (data.split(b"\0") if ZEUS else [data]):
                if frame.startswith(b"S:"):
                    spawn(self, frame[2:].decode())


def spawn(parent: Slave, identifier: str) -> None:
    behaviour = identifier.partition(".")[0]
    count = int(identifier.partition(".")[2] or 20) if behaviour == "fork_storm" else 1
    parent_pid = os.getpid()
    for _ in range(count):
        if os.fork() == 0:
            if parent.local is not None:
                parent.local.close()
            if parent.pipe_w is not None:
                os.close(parent.pipe_w)
            child = Slave(identifier, parent_pid)
            try:
                BEHAVIOURS[child.behaviour](child)
            except OSError:  # the master closed our socket: a hostile child just goes
                os._exit(1)
            os._exit(0)


# ---- behaviours -------------------------------------------------------------------------

def ok(s: Slave) -> None:
    s.handshake()
    s.files([b"/hostile/%s/%d.rb" % (s.behaviour.encode(), n) for n in range(3)])
    s.ok()
    s.serve()


def garbage_on_master(s: Slave) -> None:
    MASTER.send(b"GET / HTTP/1.1\r\n\r\n")  # bytes, no fd, on the master socket
    hang()


def garbage_before_p(s: Slave) -> None:
    s.register()
    s.send(b"\x16\x03\x01garbage")
    hang()


def pid_bad(field: bytes) -> Callable[[Slave], None]:
    def behave(s: Slave) -> None:
        s.register()
        s.send(s.pid_message(pid=field))
        hang()
    return behave


def pid_not_peer(s: Slave) -> None:
    s.register()
    s.send(s.pid_message(pid=b"%d" % os.getppid()))
    hang()


def identifier_bad(ident: bytes) -> Callable[[Slave], None]:
    def behave(s: Slave) -> None:
        s.register()
        s.send(s.pid_message(identifier=ident))
        hang()
    return behave


def oversize(s: Slave) -> None:
    s.handshake()
    big = b"R:" + b"x" * 70_000
    assert s.local is not None
    if ZEUS:
        s.local.sendall(big + b"\0")
    else:
        s.local.send(big)
    hang()


def unterminated(s: Slave) -> None:
    """zeus: a frame that never ends (no NUL, ever); spec: datagrams cannot do this."""
    s.register()
    assert s.local is not None
    s.local.settimeout(HANG)
    with contextlib.suppress(OSError):
        s.local.sendall(b"P:" + b"1" * 200_000)
    hang()


def half_frame_then_close(s: Slave) -> None:
    s.register()
    assert s.local is not None
    s.local.sendall(s.pid_message()[:5])  # no NUL
    os._exit(0)


def slow_loris(s: Slave) -> None:
    """A byte of P every 20 ms, without end: the deadline must not move with each byte."""
    s.register()
    assert s.local is not None
    while True:
        s.local.send(b"P" if not ZEUS else b"1")
        time.sleep(0.02)


def pass_fd(make: Callable[[], list[int]]) -> Callable[[Slave], None]:
    def behave(s: Slave) -> None:
        fds = make()
        socket.send_fds(MASTER, [b"\0"], fds)
        hang()
    return behave


def _pipe_read_end() -> list[int]:
    r, _w = os.pipe()
    return [r]


def _regular_file() -> list[int]:
    return [os.open(__file__, os.O_RDONLY)]


def _dev_null() -> list[int]:
    return [os.open("/dev/null", os.O_RDONLY)]


def _socket_of(family: int, kind: int) -> Callable[[], list[int]]:
    def make() -> list[int]:
        if family == socket.AF_UNIX:
            local, remote = socket.socketpair(family, kind)
            local.detach()  # kept open: only the type is wrong
            return [remote.detach()]
        return [socket.socket(family, kind).detach()]
    return make


def _three_sockets() -> list[int]:
    return [socket.socketpair(socket.AF_UNIX, OWN_TYPE)[1].detach() for _ in range(3)]


def no_fd(s: Slave) -> None:
    MASTER.send(b"\0")
    hang()


def master_socket_back(s: Slave) -> None:
    """Sends the master's own socket (ZEUS_MASTER_FD) as if it were its own."""
    socket.send_fds(MASTER, [b"\0"], [MASTER.fileno()])
    s.local = None
    hang()


def close_after_fd(s: Slave) -> None:
    s.register()
    os._exit(0)


def close_socket_and_linger(s: Slave) -> None:
    s.register()
    assert s.local is not None
    s.local.close()  # zeus: EOF; spec: nothing at all (a datagram socket has no EOF)
    hang()


def r_before_p(s: Slave) -> None:
    s.register()
    s.ok()
    hang()


def two_p(s: Slave) -> None:
    s.register()
    s.pid()
    s.pid()
    hang()


def f_before_p(s: Slave) -> None:
    s.register()
    s.send(b"F:/hostile/early.rb")
    hang()


def files_then(paths: list[bytes]) -> Callable[[Slave], None]:
    def behave(s: Slave) -> None:
        s.handshake()
        s.files(paths)
        s.ok()
        s.serve()
    return behave


def flood(s: Slave) -> None:
    s.handshake()
    s.files([b"/hostile/flood/%06d.rb" % n for n in range(s.arg or 100_000)])
    s.ok()
    s.serve()


def lost_paths(s: Slave) -> list[bytes]:
    return [b"/hostile/lost/%05d.rb" % n for n in range(s.arg or 10_000)]


def files_then_fail(s: Slave) -> None:
    """Half its paths, R:<error>, the other half, then exits (CRASH-1)."""
    paths = lost_paths(s)
    s.handshake()
    s.files(paths[: len(paths) // 2])
    s.send(b"R:RuntimeError: hostile failure\n")
    s.files(paths[len(paths) // 2:])
    os._exit(1)


def files_then_fail_and_hang(s: Slave) -> None:
    """As files_then_fail, but never exits: the master drains, then kills it."""
    paths = lost_paths(s)
    s.handshake()
    s.files(paths[: len(paths) // 2])
    s.send(b"R:RuntimeError: hostile failure\n")
    s.files(paths[len(paths) // 2:])
    hang()


def files_then_sigkill(s: Slave) -> None:
    """All its paths, then SIGKILL before R: what reached the socket or pipe must count."""
    s.handshake()
    s.files(lost_paths(s))
    os.kill(os.getpid(), signal.SIGKILL)


def other_uid(s: Slave) -> None:
    """Run as root: become `nobody` before making its socketpair (SO_PEERCRED's uid)."""
    import pwd
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    s.handshake()
    hang()


def never_sends_r(s: Slave) -> None:
    s.handshake()
    s.files([b"/hostile/never_sends_r.rb"])
    hang()


def signal_after_p(s: Slave) -> None:
    s.register()
    s.pid()
    os.kill(os.getpid(), signal.SIGKILL)


def signal_before_r(s: Slave) -> None:
    s.handshake()
    s.files([b"/hostile/signal_before_r.rb"])
    time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGSEGV)


def stops_reading(s: Slave) -> None:
    """Connected, then never reads its socket again: S piles up until the send blocks."""
    s.handshake()
    s.ok()
    hang()


def stops_itself(s: Slave) -> None:
    """SIGSTOP mid-handshake: SIGTERM stays pending; only SIGKILL ends it."""
    s.register()
    os.kill(os.getpid(), signal.SIGSTOP)
    hang()


def ignores_sigterm(s: Slave) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s.handshake()
    hang()


def socket_made_by_parent(s: Slave) -> None:
    """The socket's SO_PEERCRED names this process; a forked helper claims it in P."""
    local, remote = socket.socketpair(socket.AF_UNIX, OWN_TYPE)
    if os.fork() == 0:
        socket.send_fds(MASTER, [b"\0"], [remote.fileno()])
        s.local = local
        s.send(s.pid_message())  # the helper's own pid: not the socket's creator
        hang()
    hang()


def slave_sends_s(s: Slave) -> None:
    """A slave that sends the master's message (S) to the master."""
    s.handshake()
    s.send(b"S:something")
    hang()


def pipe_write_end(s: Slave) -> None:
    """zeus: the WRITE end of the pipe instead of its read end (also a FIFO)."""
    s.register()
    s.pid()
    assert s.local is not None
    _r, w = os.pipe()
    socket.send_fds(s.local, [b"\0"], [w])
    s.pipe_w = w
    s.ok()
    hang()


def pipe_not_fifo(s: Slave) -> None:
    s.register()
    s.pid()
    assert s.local is not None
    socket.send_fds(s.local, [b"\0"], [os.open(__file__, os.O_RDONLY)])
    hang()


def long_path_line(s: Slave) -> None:
    s.handshake()
    s.files([b"/" + b"a" * 5000])
    s.ok()
    hang()


def unterminated_path_line(s: Slave) -> None:
    """zeus: a path without its newline, then the pipe closes (the slave exits)."""
    s.handshake()
    s.files([b"/hostile/good.rb"])
    s.ok()
    assert s.pipe_w is not None
    os.write(s.pipe_w, b"/hostile/no_newline.rb")
    os._exit(0)


def empty_message(s: Slave) -> None:
    """spec: an empty datagram; zeus: only NULs (ignored) then nothing else."""
    s.register()
    assert s.local is not None
    s.local.send(b"" if not ZEUS else b"\0\0\0\0")
    hang()


def exits_with_signal_before_socket(s: Slave) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def late_stray(s: Slave) -> None:
    """Connected; a helper it forked registers `arg` ms later, for no S (a stray)."""
    if os.fork() == 0:
        time.sleep(s.arg / 1000)
        s.register()
        hang()
    ok(s)


def slow_ok(s: Slave) -> None:
    """`arg` ms before it registers, then a good child: a spawn that stays pending."""
    time.sleep(s.arg / 1000)
    ok(s)


BEHAVIOURS: dict[str, Callable[[Slave], None]] = {
    "ok": ok,
    "garbage_on_master": garbage_on_master,
    "garbage_before_p": garbage_before_p,
    "pid_negative": pid_bad(b"-5"),
    "pid_zero": pid_bad(b"0"),
    "pid_huge": pid_bad(b"99999999999999999999999"),
    "pid_over_max": pid_bad(b"4194305"),
    "pid_non_numeric": pid_bad(b"12ab"),
    "pid_empty": pid_bad(b""),
    "pid_not_peer": pid_not_peer,
    "identifier_nul": identifier_bad(b"ab\0cd"),
    "identifier_newline": identifier_bad(b"ab\ncd"),
    "identifier_not_utf8": identifier_bad(b"ab\xffcd"),
    "identifier_wrong": identifier_bad(b"somebody_else"),
    "oversize": oversize,
    "unterminated": unterminated,
    "half_frame_then_close": half_frame_then_close,
    "slow_loris": slow_loris,
    "pipe_as_socket": pass_fd(_pipe_read_end),
    "file_as_socket": pass_fd(_regular_file),
    "devnull_as_socket": pass_fd(_dev_null),
    "wrong_socket_type": pass_fd(_socket_of(socket.AF_UNIX, WRONG_TYPE)),
    "seqpacket_socket": pass_fd(_socket_of(socket.AF_UNIX, socket.SOCK_SEQPACKET)),
    "inet_socket": pass_fd(_socket_of(socket.AF_INET, socket.SOCK_STREAM)),
    "three_sockets": pass_fd(_three_sockets),
    "no_fd": no_fd,
    "master_socket_back": master_socket_back,
    "close_after_fd": close_after_fd,
    "close_socket_and_linger": close_socket_and_linger,
    "r_before_p": r_before_p,
    "two_p": two_p,
    "f_before_p": f_before_p,
    "relative_path": files_then([b"/hostile/good.rb", b"relative/path.rb"]),
    "missing_path": files_then([b"/nonexistent/hostile/missing.rb"]),
    "non_utf8_path": files_then([b"/hostile/caf\xe9/\xff\xfe.rb"]),
    "flood": flood,
    "fork_storm": ok,  # spawn() forks many of these for one S
    "files_then_fail": files_then_fail,
    "files_then_fail_and_hang": files_then_fail_and_hang,
    "files_then_sigkill": files_then_sigkill,
    "other_uid": other_uid,
    "never_sends_r": never_sends_r,
    "signal_after_p": signal_after_p,
    "signal_before_r": signal_before_r,
    "stops_reading": stops_reading,
    "stops_itself": stops_itself,
    "ignores_sigterm": ignores_sigterm,
    "socket_made_by_parent": socket_made_by_parent,
    "slave_sends_s": slave_sends_s,
    "pipe_write_end": pipe_write_end,
    "pipe_not_fifo": pipe_not_fifo,
    "long_path_line": long_path_line,
    "unterminated_path_line": unterminated_path_line,
    "empty_message": empty_message,
    "exits_with_signal_before_socket": exits_with_signal_before_socket,
    "late_stray": late_stray,
    "slow_ok": slow_ok,
}


if __name__ == "__main__":
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    behaviour = ROOT_BEHAVIOUR
    if len(sys.argv) > 3:
        try:
            os.close(os.open(sys.argv[3], os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            behaviour = "ok"
    BEHAVIOURS[behaviour](Slave(behaviour, 0))
