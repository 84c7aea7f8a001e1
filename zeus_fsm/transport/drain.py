"""Output of the command path: bounded reads of the client's fds to their end, and
whether what was written has been read (so no output is lost at the end).

Like fds.py this module reports facts (bytes read, bytes still queued) and decides
nothing about what they mean.
Every wait is bounded by its caller's timeout.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import termios
import time

#: How often a drain looks at the output queues again (seconds).
_DRAIN_TICK = 0.002


class TooMuchData(Exception):
    """An fd yielded more than the caller's limit before its end of file."""


def read_to_eof(fd: int, timeout: float, limit: int) -> bytes:
    """Everything `fd` yields until its end of file, within `timeout` seconds and `limit`
    bytes (TimeoutError, TooMuchData). Leaves the fd's blocking mode alone."""
    end = time.monotonic() + timeout
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    chunks: list[bytes] = []
    size = 0
    while True:
        left = end - time.monotonic()
        if left <= 0 or not poller.poll(int(left * 1000) + 1):
            raise TimeoutError(f"fd {fd} gave no end of file within {timeout:g} s")
        try:
            chunk = os.read(fd, 65_536)
        except BlockingIOError:
            continue
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise TooMuchData(f"fd {fd} yielded over {limit} bytes")
        chunks.append(chunk)


def unsent_bytes(fd: int) -> int | None:
    """How much written to `fd` its reader has not taken yet (SIOCOUTQ on a socket,
    TIOCOUTQ on a terminal: the same ioctl); 0 once it took everything, None where the
    kernel cannot say. An AF_UNIX socket counts the queued buffers' memory, not bytes
    (5 bytes read as 768 here): only "zero or not" is portable."""
    try:
        raw = fcntl.ioctl(fd, termios.TIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return None
    return int(struct.unpack("i", raw)[0])


def drain_output(fds: list[int], timeout: float) -> bool:
    """Wait (at most `timeout` s) until the readers of `fds` took everything written.

    A client that exits as soon as it has the exit status can lose the command's
    last output if it was still queued: hold the status back until it is read.
    True when every queue emptied (or cannot be measured), False on timeout.
    """
    end = time.monotonic() + timeout
    while True:
        if all(not unsent_bytes(fd) for fd in fds):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(_DRAIN_TICK)
