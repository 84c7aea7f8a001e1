"""The client path's bytes: a client and the master on `.zeus.sock`, sans-I/O.

One AF_UNIX SOCK_STREAM connection, every text NUL-terminated, each fd in a
message of its own whose payload is one NUL byte::

    client -> master   T:<argc>:<client_pid>:<command>\\0    CommandRequest
    client -> master   \\0 + fd, three times                  arguments, stdout/stdin, stderr
    master -> client   <pid>\\0                               CommandStarted (0: crashed)
    master -> client   <code>\\0                              ExitStatus

A stream keeps no message boundaries: one read may hold T and the first fd's
NUL byte (seen from the real client), so decoders split on NUL and drop the
empty frames those bytes make. Bad bytes raise a MalformedMessage naming the
sender and the requirement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from zeus_fsm.protocol.errors import FrameTooLarge, MalformedMessage, Role
from zeus_fsm.protocol.messages import (
    ClientMessage,
    CommandRequest,
    CommandStarted,
    ExitStatus,
    FieldError,
)

#: The longest text on the connection (the stream's FRAME-3 cap).
MAX_FRAME: Final = 65_536
#: The payload each fd rides on.
FD_PAYLOAD: Final = b"\0"
_MAX_DIGITS: Final = 10


def encode(message: ClientMessage) -> bytes:
    if isinstance(message, CommandRequest):
        return b"T:%d:%d:%s\0" % (message.argc, message.client_pid,
                                  message.command.encode("utf-8", "surrogateescape"))
    if isinstance(message, CommandStarted):
        return b"%d\0" % message.pid
    return b"%d\0" % message.code


def _number(field: bytes, name: str, requirement: str, sender: Role, frame: bytes) -> int:
    if not field or len(field) > _MAX_DIGITS or not field.isdigit():
        raise MalformedMessage(f"{name} field {field!r} is not a decimal integer",
                               culprit=sender, requirement=requirement, data=frame)
    return int(field)


def decode_request(frame: bytes) -> CommandRequest:
    """`T:<argc>:<client_pid>:<command>` without its NUL (CLIENT-1). The command is the
    rest of the frame, colons included (the real master splits into four fields)."""
    sender = Role.CLIENT
    fields = frame.split(b":", 3)
    if len(fields) != 4 or fields[0] != b"T":
        raise MalformedMessage("the client's first message must be "
                               "T:<argc>:<client_pid>:<command>", culprit=sender,
                               requirement="CLIENT-1", data=frame)
    argc = _number(fields[1], "argc", "CLIENT-1", sender, frame)
    client_pid = _number(fields[2], "client_pid", "CLIENT-1", sender, frame)
    try:
        command = fields[3].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedMessage("the command name is not UTF-8", culprit=sender,
                               requirement="CLIENT-1", data=frame) from None
    try:
        return CommandRequest(argc, client_pid, command)
    except FieldError as error:
        raise MalformedMessage(error.reason, culprit=sender, requirement=error.requirement,
                               data=frame) from None


def decode_reply(frame: bytes, started: bool) -> CommandStarted | ExitStatus:
    """What the master sends: first the pid (CLIENT-4), then the exit status (CLIENT-5)."""
    sender = Role.MASTER
    requirement = "CLIENT-5" if started else "CLIENT-4"
    value = _number(frame, "exit status" if started else "pid", requirement, sender, frame)
    try:
        return ExitStatus(value) if started else CommandStarted(value)
    except FieldError as error:
        raise MalformedMessage(error.reason, culprit=sender, requirement=requirement,
                               data=frame) from None


@contextmanager
def _salvaging(decoded: list[Any]) -> Iterator[None]:
    """A bad text: the messages decoded before it ride on the error (nothing is lost)."""
    try:
        yield
    except MalformedMessage as error:
        error.salvaged = tuple(decoded)
        raise


class _Frames:
    """NUL-split frames of a stream, empty ones dropped, bounded (FRAME-3)."""

    def __init__(self, sender: Role) -> None:
        self._sender = sender
        self._buffer = b""

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def split(self, data: bytes) -> list[bytes]:
        frames = (self._buffer + data).split(b"\0")
        self._buffer = frames.pop()
        if len(self._buffer) > MAX_FRAME:
            shown, self._buffer = self._buffer, b""
            raise FrameTooLarge(f"an unterminated text grew past {MAX_FRAME} bytes",
                                culprit=self._sender, requirement="FRAME-3", data=shown)
        return [frame for frame in frames if frame]

    def close(self) -> None:
        if self._buffer:
            left, self._buffer = self._buffer, b""
            raise MalformedMessage("the connection ended inside a text (no NUL)",
                                   culprit=self._sender, requirement="FRAME-2", data=left)


class RequestDecoder:
    """The master's side: the client's T (its fds come as events, not bytes)."""

    def __init__(self) -> None:
        self._frames = _Frames(Role.CLIENT)

    @property
    def buffered(self) -> int:
        return self._frames.buffered

    def feed(self, data: bytes) -> list[CommandRequest]:
        out: list[CommandRequest] = []
        with _salvaging(out):
            for frame in self._frames.split(data):
                out.append(decode_request(frame))
        return out

    def close(self) -> None:
        self._frames.close()


class ReplyDecoder:
    """The client's side: the pid, then the exit status."""

    def __init__(self) -> None:
        self._frames = _Frames(Role.MASTER)
        self._started = False

    def feed(self, data: bytes) -> list[CommandStarted | ExitStatus]:
        out: list[CommandStarted | ExitStatus] = []
        with _salvaging(out):
            for frame in self._frames.split(data):
                out.append(decode_reply(frame, self._started))
                self._started = True
        return out

    def close(self) -> None:
        self._frames.close()
