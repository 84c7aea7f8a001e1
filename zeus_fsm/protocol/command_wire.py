"""The command path's bytes (zeus dialect only): encoders and sans-I/O decoders.

After `C:<command>` the runner's socket (`AF_UNIX` `SOCK_DGRAM`) carries, in order:

    master -> runner   b"<client_pid>:<argc>\\0"        RunnerHeader (one datagram)
    master -> runner   b"\\0" + fd, three times          arguments, stdout/stdin, stderr
    command -> master  b"P:<pid>:<slave_pid>:\\0"       CommandPid (identifier empty)
    runner -> master   b"<code>\\0"                     ExitStatus

and the arguments fd yields `arg\\0` per argument, then end of file. Every text is
NUL-terminated, as on the slave's stream; the real master buffers and splits on
NUL whatever the datagram boundaries, so the decoders here do too.

Nothing here touches a socket. Bad bytes raise a MalformedMessage that names
the sender (the master for the header and the arguments, the slave for what the
runner and the command send) and the requirement.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from zeus_fsm.protocol.errors import FrameTooLarge, MalformedMessage, Role
from zeus_fsm.protocol.framing import NulFrames
from zeus_fsm.protocol.messages import (
    CommandArguments,
    CommandMessage,
    CommandPid,
    ExitStatus,
    FieldError,
    RunnerHeader,
)

#: The longest frame on a runner socket (the same FRAME-3 cap as the stream's).
MAX_FRAME: Final = 65_536
#: The most bytes the arguments fd may yield (Linux's ARG_MAX is 2 MiB by default).
MAX_ARGUMENT_BYTES: Final = 4 * 1024 * 1024
#: Digits a numeric field may have (pid and argc fit in 10; leading zeros allowed).
_MAX_DIGITS: Final = 10


def _malformed(sender: Role, requirement: str, reason: str, data: bytes) -> MalformedMessage:
    return MalformedMessage(reason, culprit=sender, requirement=requirement, data=data)


def _number(field: bytes, name: str, requirement: str, sender: Role, frame: bytes) -> int:
    if not field or len(field) > _MAX_DIGITS or not field.isdigit():
        raise _malformed(sender, requirement, f"{name} field {field!r} is not a decimal integer",
                         frame)
    return int(field)


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def encode(message: CommandMessage) -> bytes:
    """One NUL-terminated text: the header, the command's P, or the exit status."""
    if isinstance(message, RunnerHeader):
        return b"%d:%d\0" % (message.client_pid, message.argc)
    if isinstance(message, CommandPid):
        return b"P:%d:%d:\0" % (message.pid, message.slave_pid)
    return b"%d\0" % message.code


def encode_arguments(args: CommandArguments | Sequence[bytes]) -> bytes:
    """What the arguments fd carries before its end of file: `arg\\0` per argument."""
    if not isinstance(args, CommandArguments):
        args = CommandArguments(tuple(args))
    return b"".join(arg + b"\0" for arg in args.args)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------


def decode_header(datagram: bytes) -> RunnerHeader:
    """The runner's view of the master's first datagram (CMD-3): `<client_pid>:<argc>\\0`."""
    sender = Role.MASTER
    if len(datagram) > MAX_FRAME:
        raise FrameTooLarge(f"header is {len(datagram)} bytes, over {MAX_FRAME}",
                            culprit=sender, requirement="FRAME-3", data=datagram)
    if not datagram.endswith(b"\0") or b"\0" in datagram[:-1]:
        raise _malformed(sender, "CMD-3", "the header is one NUL-terminated text in one "
                                          "datagram", datagram)
    fields = datagram[:-1].split(b":")
    if len(fields) != 2:
        raise _malformed(sender, "CMD-3", "the header must be <client_pid>:<argc>", datagram)
    client_pid = _number(fields[0], "client_pid", "FRAME-4", sender, datagram)
    argc = _number(fields[1], "argc", "CMD-3", sender, datagram)
    try:
        return RunnerHeader(client_pid, argc)
    except FieldError as error:
        raise _malformed(sender, error.requirement, error.reason, datagram) from None


def decode_arguments(data: bytes, argc: int) -> CommandArguments:
    """Everything the arguments fd yielded up to its end of file, checked against argc (CMD-4).

    `data.split(b"\\0")[:-1]` keeps empty arguments, a trailing empty one included
    (`a\\0\\0` is `a` and ``): the Ruby shim's chomp-and-split loses it.
    """
    sender = Role.MASTER
    if len(data) > MAX_ARGUMENT_BYTES:
        raise FrameTooLarge(f"the arguments are {len(data)} bytes, over {MAX_ARGUMENT_BYTES}",
                            culprit=sender, requirement="CMD-4", data=data)
    if data and not data.endswith(b"\0"):
        raise _malformed(sender, "CMD-4", "the arguments fd ended inside an argument (no NUL)",
                         data)
    args = tuple(data.split(b"\0")[:-1])
    if len(args) != argc:
        raise _malformed(sender, "CMD-4", f"the header said argc {argc}, the arguments fd "
                                          f"carried {len(args)}", data)
    return CommandArguments(args)


class RunnerDecoder:
    """What the master reads on the runner socket: the command's P, then the exit status.

    Feed each datagram as it arrives; frames are NUL-terminated and may span
    datagrams (the real master splits on NUL regardless). The first frame must be
    the command's P (CMD-5), every later one an exit status (CMD-7): the order is
    part of the shape, so a bad frame is blamed on the step it came in.
    """

    def __init__(self, sender: Role = Role.SLAVE, max_frame: int = MAX_FRAME) -> None:
        self._sender = sender
        self._max = max_frame
        self._seen_pid = False
        self._frames: NulFrames[CommandPid | ExitStatus] = NulFrames(
            self._decode, sender, max_frame, "runner socket")

    @property
    def buffered(self) -> int:
        return self._frames.buffered

    def feed(self, data: bytes) -> list[CommandPid | ExitStatus]:
        return self._frames.feed(data)

    def close(self) -> None:
        """The runner is gone; raise if a partial frame is left over."""
        self._frames.close()

    def _decode(self, frame: bytes) -> CommandPid | ExitStatus:
        if len(frame) > self._max:
            raise FrameTooLarge(f"frame is {len(frame)} bytes, over {self._max}",
                                culprit=self._sender, requirement="FRAME-3", data=frame)
        if not self._seen_pid:
            message: CommandPid | ExitStatus = decode_command_pid(frame, self._sender)
            self._seen_pid = True
            return message
        return decode_exit_status(frame, self._sender)


def decode_command_pid(frame: bytes, sender: Role = Role.SLAVE) -> CommandPid:
    """`P:<pid>:<slave_pid>:` without its NUL (CMD-5): four fields, the last one empty."""
    if frame[:2] != b"P:":
        raise _malformed(sender, "CMD-5", "the command's first message must be "
                                          "P:<pid>:<slave_pid>:", frame)
    fields = frame[2:].split(b":")
    if len(fields) != 3:
        raise _malformed(sender, "CMD-5", "the command's P must be P:<pid>:<slave_pid>: "
                                          "(four fields, the identifier empty)", frame)
    if fields[2]:
        raise _malformed(sender, "CMD-5", f"the command's P has identifier {fields[2]!r}; "
                                          "it must be empty", frame)
    pid = _number(fields[0], "pid", "FRAME-4", sender, frame)
    slave_pid = _number(fields[1], "slave_pid", "FRAME-4", sender, frame)
    try:
        return CommandPid(pid, slave_pid)
    except FieldError as error:
        raise _malformed(sender, error.requirement, error.reason, frame) from None


def decode_exit_status(frame: bytes, sender: Role = Role.SLAVE) -> ExitStatus:
    """`<code>` without its NUL (CMD-7): decimal digits, 0 to 255."""
    code = _number(frame, "exit status", "CMD-7", sender, frame)
    try:
        return ExitStatus(code)
    except FieldError as error:
        raise _malformed(sender, error.requirement, error.reason, frame) from None
