"""Events that are not messages: facts about fds, closed channels and deadlines.

The transport observes these (it inspects fds and sees EOF); the machine
judges them. Together with the messages they are everything a Handshake sees.
"""

from __future__ import annotations

import enum

import attrs

from zeus_fsm.protocol.messages import Message


class FdKind(enum.Enum):
    """What a passed file descriptor turned out to be."""

    UNIX_STREAM = "AF_UNIX SOCK_STREAM socket"
    UNIX_DGRAM = "AF_UNIX SOCK_DGRAM socket"
    UNIX_SEQPACKET = "AF_UNIX SOCK_SEQPACKET socket"
    OTHER_SOCKET = "socket of another family"
    FIFO = "pipe (FIFO)"
    FIFO_WRITE_END = "write end of a pipe (FIFO)"  # nothing can be read from it
    REGULAR_FILE = "regular file"
    TERMINAL = "terminal (a pty or tty character device)"
    OTHER = "other file type"


#: The fd kinds that are AF_UNIX sockets (what a master socket or a slave socket must be).
UNIX_SOCKETS = frozenset({FdKind.UNIX_STREAM, FdKind.UNIX_DGRAM, FdKind.UNIX_SEQPACKET})


@attrs.frozen
class SocketPassed:
    """A datagram on the master socket carried the slave's own socket (or what claims to be)."""

    kinds: tuple[FdKind, ...]
    payload: bytes = b"\0"
    #: SO_PEERCRED of the received socket: who created it.
    peer_pid: int | None = None
    peer_uid: int | None = None
    #: The process group of that process (None: unknown, or it is gone already).
    peer_group: int | None = None


@attrs.frozen
class PipePassed:
    """zeus: a message on the slave socket carried the loaded-files pipe (or what claims to be)."""

    kinds: tuple[FdKind, ...]


@attrs.frozen
class ChannelClosed:
    """The slave's socket reached end of file (the slave closed it or exited)."""


@attrs.frozen
class PipeClosed:
    """zeus: the loaded-files pipe reached end of file."""


@attrs.frozen
class Deadline:
    """A bounded wait for the current step ran out."""

    seconds: float


@attrs.frozen
class RunnerPassed:
    """zeus, after C: a message on the slave's stream carried the runner's socket.

    `payload` is the bytes that came with the fd (exactly one NUL: the real master
    reads one byte per fd); SO_PEERCRED of the socket names the runner that made it.
    """

    kinds: tuple[FdKind, ...]
    payload: bytes = b"\0"
    peer_pid: int | None = None
    peer_uid: int | None = None


@attrs.frozen
class ClientFdsPassed:
    """zeus: the client's fds went over the runner socket: arguments, stdout/stdin, stderr."""

    kinds: tuple[FdKind, ...]


@attrs.frozen
class CommandEnded:
    """The command's process exited (its pidfd became readable); its status is the
    runner's to send."""


Event = (Message | SocketPassed | PipePassed | RunnerPassed | ChannelClosed | PipeClosed
         | Deadline)
