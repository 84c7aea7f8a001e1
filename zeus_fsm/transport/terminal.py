"""Terminals: pseudo-terminal pairs, raw mode and window sizes, for the `run` client.

A command run through a preloader has no controlling terminal (it was forked
by a runner in a session of its own, and it received its fds). So the client
gives it a pseudo-terminal per stream when its own are terminals, copies the
window size across, and puts its own terminal in raw mode so that ^C reaches
it as a byte it can turn into a signal for the command.
"""

from __future__ import annotations

import fcntl
import os
import struct
import termios
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

_WINSIZE = struct.Struct("HHHH")

# What raw mode clears, as the real client does (ttyutils): no line editing, no echo,
# no signals from keys, no output processing, no input translation or flow control.
_RAW_IFLAG_OFF = (termios.IGNCR | termios.ICRNL | termios.INLCR | termios.ISTRIP
                  | termios.IXON | termios.IXOFF | termios.IMAXBEL | termios.BRKINT)
_RAW_LFLAG_OFF = (termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN
                  | termios.ECHOE | termios.ECHOK)


def open_pty() -> tuple[int, int]:
    """A pseudo-terminal pair (ours, the command's), both close-on-exec."""
    ours, theirs = os.openpty()
    return ours, theirs


def is_terminal(fd: int) -> bool:
    return os.isatty(fd)


def window_size(fd: int) -> bytes | None:
    """The raw winsize of a terminal (None if `fd` is not one)."""
    try:
        return fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * _WINSIZE.size)
    except OSError:
        return None


def set_window_size(fd: int, size: bytes) -> None:
    with suppress(OSError):  # the other side may be gone already
        fcntl.ioctl(fd, termios.TIOCSWINSZ, size)


def rows_columns(size: bytes) -> tuple[int, int]:
    rows, columns, _, _ = _WINSIZE.unpack(size)
    return rows, columns


@contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """`fd`'s terminal in raw mode for the block; restored on every way out."""
    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        yield  # not a terminal: nothing to do
        return
    raw = list(saved)
    raw[0] = (raw[0] & ~_RAW_IFLAG_OFF) | termios.IGNBRK
    raw[1] = raw[1] & ~termios.OPOST
    raw[3] = raw[3] & ~_RAW_LFLAG_OFF
    cc = list(raw[6])
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    raw[6] = cc
    termios.tcsetattr(fd, termios.TCSAFLUSH, raw)
    try:
        yield
    finally:
        restore_mode(fd, saved)


def restore_mode(fd: int, saved: list[Any]) -> None:
    with suppress(termios.error):
        termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
