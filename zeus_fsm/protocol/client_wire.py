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

from typing import Final

from zeus_fsm.protocol.errors import MalformedMessage, Role
from zeus_fsm.protocol.framing import NulFrames
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


class RequestDecoder(NulFrames[CommandRequest]):
    """The master's side: the client's T (its fds come as events, not bytes)."""

    def __init__(self) -> None:
        super().__init__(decode_request, Role.CLIENT, MAX_FRAME, "the connection")


class ReplyDecoder(NulFrames["CommandStarted | ExitStatus"]):
    """The client's side: the pid, then the exit status."""

    def __init__(self) -> None:
        super().__init__(self._reply, Role.MASTER, MAX_FRAME, "the connection")
        self._started = False

    def _reply(self, frame: bytes) -> CommandStarted | ExitStatus:
        message = decode_reply(frame, self._started)
        self._started = True
        return message
