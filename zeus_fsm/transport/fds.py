"""File descriptors: sockets, SCM_RIGHTS, credentials, pipes, bounded waits.

It makes socketpairs and pipes, passes and receives fds (SCM_RIGHTS), reads
SO_PEERCRED and SO_TYPE, and waits with a deadline. It reports facts (what an
fd is, who the peer is, what bytes arrived); it never decides what they mean:
that is the machine's job.

Every wait here is bounded, and every fd received is either handed to the
caller explicitly (`Received.keep`) or closed.
"""

from __future__ import annotations

import array
import fcntl
import os
import select
import socket
import stat
import struct
import time
from collections.abc import Iterable
from contextlib import suppress

import attrs

from zeus_fsm.protocol.events import FdKind

#: How many fds one receive accepts; more than one is already a fault.
MAX_FDS = 8
#: Bytes read at most per receive: one FRAME-3 message plus one, to spot oversize.
RECV_BYTES = 65_536 + 1

_CREDS = struct.Struct("3i")
#: recvmsg flags for a cut datagram or dropped fds (an int: enum flag arithmetic is slow).
_TRUNCATED = int(socket.MSG_CTRUNC | socket.MSG_TRUNC)


@attrs.frozen
class PeerCred:
    pid: int
    uid: int
    gid: int


def master_socketpair() -> tuple[socket.socket, socket.socket]:
    """The master socket (SOCKET-1): (master's end, end the root slave inherits)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    theirs.set_inheritable(True)
    return ours, theirs


#: The socket type that makes each kind of AF_UNIX socket.
SOCKET_TYPES = {FdKind.UNIX_STREAM: socket.SOCK_STREAM, FdKind.UNIX_DGRAM: socket.SOCK_DGRAM,
                FdKind.UNIX_SEQPACKET: socket.SOCK_SEQPACKET}


def slave_socketpair(kind: FdKind) -> tuple[socket.socket, socket.socket]:
    """A slave's own socketpair (local, remote) of the dialect's kind."""
    return socket.socketpair(socket.AF_UNIX, SOCKET_TYPES[kind])


def make_pipe() -> tuple[int, int]:
    """A pipe for loaded files (zeus): (read end, write end), both close-on-exec."""
    return os.pipe()


#: AF_UNIX socket kinds by SO_TYPE.
_UNIX_KINDS: dict[int, FdKind] = {
    socket.SOCK_STREAM: FdKind.UNIX_STREAM,
    socket.SOCK_DGRAM: FdKind.UNIX_DGRAM,
    socket.SOCK_SEQPACKET: FdKind.UNIX_SEQPACKET,
}


def socket_kind(sock: socket.socket) -> FdKind:
    """What a socket this process holds is, from SO_DOMAIN and SO_TYPE (no fd of its own).

    fd_kind's duplicate fd and socket object cost ~45 page faults (~0.2 ms) in a process
    just forked, where a slave inspects the socket it is about to send (measured)."""
    if sock.getsockopt(socket.SOL_SOCKET, socket.SO_DOMAIN) != socket.AF_UNIX:
        return FdKind.OTHER_SOCKET
    return _UNIX_KINDS.get(sock.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE),
                           FdKind.OTHER_SOCKET)


def fd_kind(fd: int) -> FdKind:
    """What an fd is, from fstat and, for sockets, SO_DOMAIN and SO_TYPE."""
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return FdKind.OTHER
    if stat.S_ISCHR(mode) and os.isatty(fd):
        return FdKind.TERMINAL
    if stat.S_ISFIFO(mode):
        # A write-only end is a FIFO too, but reading it fails (EBADF).
        writable_only = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_WRONLY
        return FdKind.FIFO_WRITE_END if writable_only else FdKind.FIFO
    if stat.S_ISREG(mode):
        return FdKind.REGULAR_FILE
    if not stat.S_ISSOCK(mode):
        return FdKind.OTHER
    probe = socket.socket(fileno=fd)  # borrowed: detached below, never closed
    try:
        return socket_kind(probe)
    finally:
        probe.detach()


def peer_credentials(sock: socket.socket) -> PeerCred:
    """SO_PEERCRED: the pid, uid and gid of the process that made the peer socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDS.size)
    return PeerCred(*_CREDS.unpack(raw))


def send_with_fds(sock: socket.socket, payload: bytes, fds: Iterable[int]) -> None:
    """Send payload with fds attached (SCM_RIGHTS), in one sendmsg."""
    socket.send_fds(sock, [payload], list(fds))


@attrs.define
class Received:
    """What one receive brought: bytes, fds (owned until kept or closed), and EOF."""

    data: bytes
    fds: list[int]
    eof: bool = False
    #: The kernel dropped ancillary data (more fds than we accept) or cut a datagram.
    truncated: bool = False

    @property
    def kinds(self) -> tuple[FdKind, ...]:
        return tuple(fd_kind(fd) for fd in self.fds)

    def keep(self, index: int = 0) -> int:
        """Take ownership of one fd; the others are closed."""
        kept = self.fds[index]
        self.fds.remove(kept)
        self.close()
        return kept

    def close(self) -> None:
        for fd in self.fds:
            close_quietly(fd)
        self.fds.clear()


def wait_readable(fds: Iterable[int], timeout: float | None) -> list[int]:
    """Block until some fds are readable (or hung up), at most `timeout` seconds."""
    poller = select.poll()
    for fd in fds:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    ms = None if timeout is None else max(0, int(timeout * 1000))
    while True:
        try:
            return [fd for fd, _ in poller.poll(ms)]
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue


def receive(sock: socket.socket, timeout: float, nbytes: int = RECV_BYTES) -> Received | None:
    """One recvmsg with fds, waiting at most `timeout` seconds; None when time ran out.

    It reads first and polls only when nothing is there (recvmsg never blocks: see
    _recvmsg_with_fds), so reading a socket poll has just reported costs no second
    poll. A wake-up with nothing to read waits again: on a datagram socket an empty
    result would be indistinguishable from an empty datagram.
    """
    clock: Clock | None = None
    while True:
        try:
            data, fds, flags = _recvmsg_with_fds(sock, nbytes)
            break
        except BlockingIOError:
            pass
        except ConnectionResetError:
            return Received(b"", [], eof=True)
        if clock is None:
            clock = Clock(timeout)
        if clock.expired or not wait_readable([sock.fileno()], clock.remaining()):
            return None
    truncated = bool(flags & _TRUNCATED)
    eof = not data and not fds and sock.type == socket.SOCK_STREAM
    return Received(data, list(fds), eof=eof, truncated=truncated)


_FD_BYTES = array.array("i").itemsize


def _recvmsg_with_fds(sock: socket.socket, nbytes: int) -> tuple[bytes, list[int], int]:
    """recvmsg that never blocks, with SCM_RIGHTS fds (close-on-exec) unpacked.

    Not socket.recv_fds: before Python 3.12 it ignores its flags, so it could
    block on a wake-up with nothing to read.
    """
    data, ancillary, flags, _ = sock.recvmsg(
        nbytes, socket.CMSG_SPACE(MAX_FDS * _FD_BYTES),
        socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % _FD_BYTES])
    return data, list(fds), flags


def read_pipe(fd: int, nbytes: int = 65_536) -> bytes | None:
    """Read what a non-blocking pipe holds now: b"" at EOF, None when nothing is there."""
    try:
        return os.read(fd, nbytes)
    except BlockingIOError:
        return None


def set_nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


def make_waker() -> tuple[int, int]:
    """A non-blocking pipe that wakes a poll: (read end, write end). The write end
    may be given to signal.set_wakeup_fd, and written from another thread by `wake`."""
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    os.set_blocking(write_end, False)
    return read_end, write_end


def wake(write_end: int) -> None:
    """One byte into a waker; a full pipe is already awake, a closed one has nobody to wake."""
    with suppress(OSError):  # BlockingIOError included
        os.write(write_end, b"w")


def drain_waker(read_end: int) -> bytes:
    """Everything a waker holds now (b"" if nothing): the bytes are signal numbers or b"w"."""
    chunks = []
    while (chunk := read_pipe(read_end, 4096)):
        chunks.append(chunk)
    return b"".join(chunks)


def adopt_socket(fd: int) -> socket.socket:
    """Wrap a received socket fd (ownership moves to the returned object)."""
    return socket.socket(fileno=fd)


def send_bounded(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Send all of `data`, waiting at most `timeout` seconds for buffer room.

    Raises TimeoutError when the peer does not read, OSError when it is gone.
    """
    sock.settimeout(timeout)
    try:
        sock.sendall(data)
    finally:
        sock.settimeout(None)


def close_quietly(fd: int | socket.socket | None) -> None:
    if fd is None:
        return
    try:
        if isinstance(fd, socket.socket):
            fd.close()
        else:
            os.close(fd)
    except OSError:
        pass


class Clock:
    """A deadline: how many seconds remain of a bounded wait."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self._end


# ---- bounded writes that leave an fd's blocking mode alone (the slave's reporter thread) ----

#: Pipe writes up to this size are atomic: all or nothing (POSIX PIPE_BUF).
PIPE_BUF = select.PIPE_BUF


def fd_is_open(fd: int) -> bool:
    """Whether `fd` names an open file in this process."""
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _wait_writable(fd: int, clock: Clock) -> None:
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    if not poller.poll(int(clock.remaining() * 1000)):
        raise TimeoutError(f"fd {fd} not writable within {clock.seconds:g} s")


def send_polled(sock: socket.socket, data: bytes, timeout: float) -> None:
    """Send all of `data` within `timeout` seconds without touching the socket's mode.

    Waits with poll and sends with MSG_DONTWAIT, so another thread may receive on
    the same socket meanwhile (settimeout would flip the shared fd's O_NONBLOCK).
    Raises TimeoutError when the peer does not read, OSError when it is gone.
    """
    clock = Clock(timeout)
    view = memoryview(data)
    while True:
        try:
            sent = sock.send(view, socket.MSG_DONTWAIT)
        except BlockingIOError:
            sent = 0
        view = view[sent:]
        if not view:
            return
        _wait_writable(sock.fileno(), clock)


def write_bounded(fd: int, data: bytes, timeout: float) -> None:
    """Write all of `data` to a non-blocking fd (a pipe) within `timeout` seconds.

    A write of at most PIPE_BUF bytes to a pipe goes whole or not at all, so a
    caller that writes such chunks never leaves half a line behind on a timeout.
    """
    clock = Clock(timeout)
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            _wait_writable(fd, clock)


def send_fds_polled(sock: socket.socket, payload: bytes, fds: Iterable[int],
                    timeout: float) -> None:
    """send_with_fds bounded like send_polled: one sendmsg once there is room.

    Meant for a payload of a byte or a few, which goes whole or not at all.
    """
    clock = Clock(timeout)
    fd_list = list(fds)
    while True:
        try:
            socket.send_fds(sock, [payload], fd_list, socket.MSG_DONTWAIT)
            return
        except BlockingIOError:
            _wait_writable(sock.fileno(), clock)
