"""The master's listening socket (`.zeus.sock`) and a client's connection to it.

Only the user who runs the master may talk to it: the socket file is created
mode 0600 (under a umask, so no window where it is wider), and `accept_own`
closes, unread, any connection whose SO_PEERCRED uid is not the master's.
Real Zeus checks neither.
"""

from __future__ import annotations

import os
import socket
from contextlib import suppress
from pathlib import Path

import attrs

from zeus_fsm.transport.fds import PeerCred, peer_credentials

#: Connections waiting to be accepted (the real master's queue is 256 requests deep).
BACKLOG = 256


class StaleSocketInUse(OSError):
    """Another master answers on the socket path."""


def connect(path: Path, timeout: float) -> socket.socket:
    """A client's connection to the master (OSError when nobody listens there)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(os.fsencode(path))
    except OSError:
        sock.close()
        raise
    sock.settimeout(None)
    return sock


@attrs.define
class Listener:
    """The master's socket and the file it is bound to (removed at close if still ours)."""

    sock: socket.socket
    path: Path
    inode: int

    def fileno(self) -> int:
        return self.sock.fileno()

    def close(self) -> None:
        with suppress(OSError):
            if self.path.stat().st_ino == self.inode:  # not a newer master's socket
                self.path.unlink()
        self.sock.close()


def listen(path: Path) -> Listener:
    """Bind and listen at `path`, mode 0600. A stale socket file (nobody answers) is
    removed; a live one raises StaleSocketInUse: two masters must not share one path."""
    if path.is_socket():
        try:
            connect(path, 0.5).close()
        except OSError:
            path.unlink(missing_ok=True)
        else:
            raise StaleSocketInUse(f"a master already answers on {path}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the file is born 0600: no moment where others may connect
    try:
        sock.bind(os.fsencode(path))
        inode = path.stat().st_ino
    except OSError:
        sock.close()
        raise
    finally:
        os.umask(old)
    sock.listen(BACKLOG)
    sock.setblocking(False)
    return Listener(sock, path, inode)


def accept_own(listener: Listener) -> tuple[socket.socket, PeerCred] | None:
    """One pending connection and its credentials (None if none is pending)."""
    try:
        conn, _ = listener.sock.accept()
    except (BlockingIOError, InterruptedError):
        return None
    return conn, peer_credentials(conn)
