"""One message's bytes split into named fields, from the dialect codec itself.

The illustrated page marks each field of a message (`P`, `:`, pid, parent
pid, identifier, NUL...). The split is checked against `Dialect.encode()`:
if the codec changes and the fields no longer add up to its bytes, this
raises instead of drawing a picture of a wire format that no longer exists.
"""

from __future__ import annotations

from typing import Final

import attrs

from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.messages import (
    LETTERS,
    ActionResult,
    CommandMessage,
    CommandPid,
    LoadedFiles,
    Message,
    PidIdentifier,
    RunnerHeader,
    SpawnCommand,
    SpawnSlave,
)

#: Field roles (the page colours fields by role).
LETTER: Final = "letter"
SEPARATOR: Final = "separator"
VALUE: Final = "value"
TERMINATOR: Final = "terminator"


@attrs.frozen
class Field:
    name: str  # what a reader calls it: "pid", "identifier", "NUL terminator"
    data: bytes
    role: str  # LETTER, SEPARATOR, VALUE or TERMINATOR


Frame = tuple[Field, ...]


def frames(dialect: Dialect, message: Message) -> list[Frame]:
    """The message as it crosses the wire: one frame per datagram (spec), per
    NUL-terminated frame (zeus), or one pipe write of lines (zeus files)."""
    if isinstance(message, LoadedFiles):
        if dialect.files_on_pipe:
            lines: list[Field] = []
            for path in message.paths:
                lines += [Field("path", path, VALUE), Field("line end", b"\n", TERMINATOR)]
            return [_checked(dialect, message, tuple(lines))]
        # spec: one F datagram per path
        return [_checked(dialect, LoadedFiles((path,)),
                         (*_head(message), Field("path", path, VALUE)))
                for path in message.paths]
    body: list[Field] = list(_head(message))
    if isinstance(message, PidIdentifier):
        body.append(Field("pid", b"%d" % message.pid, VALUE))
        body.append(Field("sep", b":", SEPARATOR))
        if message.parent_pid is not None:
            body.append(Field("parent pid", b"%d" % message.parent_pid, VALUE))
            body.append(Field("sep", b":", SEPARATOR))
        body.append(Field("identifier", message.identifier.encode("utf-8"), VALUE))
    elif isinstance(message, ActionResult):
        text = b"OK" if message.error is None else \
            message.error.encode("utf-8", "surrogateescape")
        body.append(Field("result" if message.ok else "error text", text, VALUE))
    else:
        assert isinstance(message, SpawnSlave | SpawnCommand)
        body.append(Field("identifier", message.identifier.encode("utf-8"), VALUE))
    if dialect.name == "zeus":
        body.append(Field("NUL end", b"\0", TERMINATOR))
    return [_checked(dialect, message, tuple(body))]


def _head(message: Message) -> Frame:
    names = {PidIdentifier: "P: Pid & Identifier", ActionResult: "R: Action Result",
             LoadedFiles: "F: Loaded File", SpawnSlave: "S: Spawn Slave",
             SpawnCommand: "C: Spawn Command"}
    kind = type(message)
    return (Field(names[kind], LETTERS[kind], LETTER), Field("sep", b":", SEPARATOR))


def _checked(dialect: Dialect, message: Message, frame: Frame) -> Frame:
    wire = dialect.encode(message)
    if b"".join(field.data for field in frame) != wire:
        raise ValueError(f"the fields of {message!r} do not add up to the {dialect.name} "
                         f"codec's bytes {wire!r}: update views/wire.py")
    return frame


def fd_payload(payload: bytes) -> Frame:
    """The datagram (or stream message) that carries an fd: its one-byte payload."""
    return (Field("payload: one byte for the fd to ride on", payload, VALUE),)


def command_frame(message: CommandMessage) -> Frame:
    """A runner-socket message (zeus): the header, the command's P or the exit status."""
    sep, end = Field("sep", b":", SEPARATOR), Field("NUL end", b"\0", TERMINATOR)
    if isinstance(message, RunnerHeader):
        body: Frame = (Field("client pid", b"%d" % message.client_pid, VALUE), sep,
                       Field("argc", b"%d" % message.argc, VALUE), end)
    elif isinstance(message, CommandPid):
        body = (Field("P: the command's Pid", b"P", LETTER), sep,
                Field("command pid", b"%d" % message.pid, VALUE), sep,
                Field("slave pid", b"%d" % message.slave_pid, VALUE), sep,
                Field("identifier", b"", VALUE), end)
    else:
        body = (Field("exit status", b"%d" % message.code, VALUE), end)
    wire = command_wire.encode(message)
    if b"".join(field.data for field in body) != wire:
        raise ValueError(f"the fields of {message!r} do not add up to the command codec's "
                         f"bytes {wire!r}: update views/wire.py")
    return body
