"""The two wire dialects: encoders and incremental, sans-I/O decoders.

`spec` is the seed document as written: one message per datagram, no
terminator, loaded files as F datagrams. `zeus` is what the real Zeus master
and Ruby shim send: a NUL-framed stream, a parent pid in P, and loaded files
as newline-terminated lines on a separate pipe.

Nothing here touches a socket. Decoders take bytes and give messages, or raise
a ProtocolError (MalformedMessage) that names the sender and the requirement.
"""

from __future__ import annotations

from functools import partial
from typing import Final, Literal

import attrs

from zeus_fsm.protocol.errors import FrameTooLarge, MalformedMessage, Role
from zeus_fsm.protocol.events import FdKind
from zeus_fsm.protocol.framing import NulFrames
from zeus_fsm.protocol.messages import (
    LETTERS,
    ActionResult,
    FieldError,
    LoadedFiles,
    Message,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)

DialectName = Literal["spec", "zeus"]
DIALECT_NAMES: Final = ("spec", "zeus")

#: FRAME-3: the largest message, in bytes: a datagram, or one NUL-framed frame.
MAX_MESSAGE: Final = 65_536
#: The longest loaded-file line on the zeus pipe (Linux PATH_MAX is 4096).
MAX_PATH_LINE: Final = 4_096
#: The longest pid field we parse (PID_MAX has 7 digits; leave room for errors).
_MAX_PID_DIGITS: Final = 10


def _malformed(sender: Role, requirement: str, reason: str, data: bytes) -> MalformedMessage:
    return MalformedMessage(reason, culprit=sender, requirement=requirement, data=data)


def _parse_pid(field: bytes, name: str, sender: Role, frame: bytes) -> int:
    if not field or len(field) > _MAX_PID_DIGITS or not field.isdigit():
        raise _malformed(sender, "FRAME-4", f"{name} field {field!r} is not a decimal integer",
                         frame)
    return int(field)


def _parse_text(field: bytes, name: str, sender: Role, frame: bytes) -> str:
    try:
        return field.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed(sender, "FRAME-5", f"{name} is not UTF-8", frame) from None


def _build(sender: Role, frame: bytes, cls: type[Message], **fields: object) -> Message:
    try:
        return cls(**fields)  # type: ignore[arg-type]
    except FieldError as error:
        raise _malformed(sender, error.requirement, error.reason, frame) from None


@attrs.frozen
class Dialect:
    """Everything that differs between the two dialects, in one place."""

    name: DialectName
    #: The socket type of the slave's own socketpair (SOCKET-3 / SOCKET-4).
    slave_socket_kind: FdKind
    #: The requirement that names that type.
    socket_type_requirement: str
    #: The identifier the root slave sends in P (PID-3 / PID-4).
    root_identifier: str
    #: The requirement for identifiers in P.
    identifier_requirement: str
    #: zeus: P carries a parent pid (PID-5).
    has_parent_pid: bool
    #: zeus: loaded files travel on a pipe sent right after P (CHAN-1).
    files_on_pipe: bool
    #: Payload of the datagram that carries the slave's socket on the master socket.
    socket_payload: bytes
    #: zeus: C starts a command over a runner's socket (handshake.md §9); spec: no wire.
    runs_commands: bool

    # ---- encoding -------------------------------------------------------

    def encode(self, message: Message) -> bytes:
        """The bytes of one message: a datagram (spec) or a NUL-terminated frame (zeus).

        In zeus, LoadedFiles encodes to the pipe's lines instead.
        """
        if isinstance(message, LoadedFiles):
            return self._encode_files(message)
        body = LETTERS[type(message)] + b":" + self._payload(message)
        # FRAME-3 counts the message, not zeus's NUL terminator (as the decoders do).
        if len(body) > MAX_MESSAGE:
            raise ValueError(f"message is {len(body)} bytes; FRAME-3 caps it at {MAX_MESSAGE}")
        if self.name == "zeus":
            if b"\0" in body:  # only an error text can hold one; it would split the frame
                raise ValueError("a zeus frame cannot carry a NUL byte inside its payload")
            body += b"\0"
        return body

    def _payload(self, message: Message) -> bytes:
        if isinstance(message, PidIdentifier):
            if self.has_parent_pid != (message.parent_pid is not None):
                raise ValueError(f"{self.name} P {'needs' if self.has_parent_pid else 'has no'} "
                                 "parent pid")
            ppid = b"%d:" % message.parent_pid if message.parent_pid is not None else b""
            return b"%d:" % message.pid + ppid + message.identifier.encode("utf-8")
        if isinstance(message, ActionResult):
            if message.error is None:
                return b"OK"
            return message.error.encode("utf-8", "surrogateescape")
        assert isinstance(message, SpawnSlave | SpawnCommand)
        return message.identifier.encode("utf-8")

    def _encode_files(self, message: LoadedFiles) -> bytes:
        if self.files_on_pipe:
            return b"".join(path + b"\n" for path in message.paths)
        if len(message.paths) != 1:
            raise ValueError("spec sends one F datagram per path: encode paths one by one")
        return b"F:" + message.paths[0]

    def truncate_error(self, text: str) -> str:
        """Cut an error text so its R message fits FRAME-3 (the sender's duty)."""
        room = MAX_MESSAGE - 3  # "R:" and, in zeus, the NUL
        raw = text.encode("utf-8", "surrogateescape")
        if len(raw) <= room:
            return text
        marker = b"\n[truncated]\n"
        return (raw[: room - len(marker)] + marker).decode("utf-8", "ignore")

    # ---- decoding -------------------------------------------------------

    def channel_decoder(self, sender: Role) -> ChannelDecoder:
        """A decoder for the slave's own socket (or, from the slave's side, for S/C)."""
        if self.name == "spec":
            return DatagramDecoder(self, sender)
        return NulStreamDecoder(self, sender)

    def decode_frame(self, frame: bytes, sender: Role) -> Message:
        """Decode one complete message (a datagram, or a frame without its NUL)."""
        if len(frame) > MAX_MESSAGE:
            raise FrameTooLarge(f"message is {len(frame)} bytes, over {MAX_MESSAGE}",
                                culprit=sender, requirement="FRAME-3", data=frame)
        letter, colon, payload = frame[:1], frame[1:2], frame[2:]
        if colon != b":" or letter not in _LETTER_TYPES:
            raise _malformed(sender, "FRAME-1", "not a <letter>:<payload> message", frame)
        kind = _LETTER_TYPES[letter]
        if kind is PidIdentifier:
            return self._decode_pid(payload, sender, frame)
        if kind is ActionResult:
            if payload == b"OK":
                return ActionResult()
            return _build(sender, frame, ActionResult,
                          error=payload.decode("utf-8", "surrogateescape"))
        if kind is LoadedFiles:
            if self.files_on_pipe:
                raise _malformed(sender, "FILES-5",
                                 "F is not a zeus stream message; loaded files go down the pipe",
                                 frame)
            return _build(sender, frame, LoadedFiles, paths=(payload,))
        return _build(sender, frame, kind,
                      identifier=_parse_text(payload, "identifier", sender, frame))

    def _decode_pid(self, payload: bytes, sender: Role, frame: bytes) -> Message:
        parts = payload.split(b":", 2 if self.has_parent_pid else 1)
        if len(parts) != (3 if self.has_parent_pid else 2):
            shape = "P:<pid>:<parent_pid>:<identifier>" if self.has_parent_pid else \
                "P:<pid>:<identifier>"
            raise _malformed(sender, "FRAME-1", f"P must be {shape}", frame)
        pid = _parse_pid(parts[0], "pid", sender, frame)
        parent_pid = _parse_pid(parts[1], "parent_pid", sender, frame) \
            if self.has_parent_pid else None
        identifier = _parse_text(parts[-1], "identifier", sender, frame)
        return _build(sender, frame, PidIdentifier, pid=pid, parent_pid=parent_pid,
                      identifier=identifier)

    def pipe_decoder(self, sender: Role = Role.SLAVE) -> PathLineDecoder:
        """zeus: a decoder for the loaded-files pipe."""
        if not self.files_on_pipe:
            raise ValueError("the spec dialect has no loaded-files pipe")
        return PathLineDecoder(sender)


_LETTER_TYPES: dict[bytes, type[Message]] = {v: k for k, v in LETTERS.items()}


class ChannelDecoder:
    """Incremental decoder of a slave channel: feed bytes, get messages."""

    def feed(self, data: bytes) -> list[Message]:
        raise NotImplementedError

    def close(self) -> None:
        """The channel ended; raise if a partial message is left over."""

    @property
    def buffered(self) -> int:
        return 0


class DatagramDecoder(ChannelDecoder):
    """spec: each feed is one datagram holding exactly one message."""

    def __init__(self, dialect: Dialect, sender: Role) -> None:
        self._dialect = dialect
        self._sender = sender

    def feed(self, data: bytes) -> list[Message]:
        return [self._dialect.decode_frame(data, self._sender)]


class NulStreamDecoder(ChannelDecoder):
    """zeus: NUL-terminated frames; empty frames skipped; partial frames buffered."""

    def __init__(self, dialect: Dialect, sender: Role, max_frame: int = MAX_MESSAGE) -> None:
        self._frames: NulFrames[Message] = NulFrames(
            partial(dialect.decode_frame, sender=sender), sender, max_frame, "channel")

    @property
    def buffered(self) -> int:
        return self._frames.buffered

    def feed(self, data: bytes) -> list[Message]:
        return self._frames.feed(data)

    def close(self) -> None:
        self._frames.close()


class PathLineDecoder:
    """zeus: the loaded-files pipe, one absolute path per newline-terminated line."""

    def __init__(self, sender: Role = Role.SLAVE, max_line: int = MAX_PATH_LINE) -> None:
        self._sender = sender
        self._max = max_line
        self._buffer = b""

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> LoadedFiles | None:
        """Decode what is complete; a bad line raises after the good ones are salvaged."""
        lines = (self._buffer + data if self._buffer else data).split(b"\n")
        self._buffer = lines.pop()
        too_long = len(self._buffer) > self._max
        if too_long:
            left, self._buffer = self._buffer, b""
        batch: LoadedFiles | None = None
        if lines:
            # A complete line is held to the same cap as a partial one, so the
            # outcome does not depend on how the pipe's bytes were split into reads.
            if max(map(len, lines)) > self._max:
                return self._salvage(lines)
            try:
                batch = LoadedFiles(lines)
            except FieldError:
                return self._salvage(lines)
        if too_long:
            oversize = FrameTooLarge(f"unterminated path line grew past {self._max} bytes",
                                     culprit=self._sender, requirement="FILES-5", data=left)
            oversize.salvaged = (batch,) if batch else ()
            raise oversize
        return batch

    def _salvage(self, lines: list[bytes]) -> LoadedFiles | None:
        good: list[bytes] = []
        first: MalformedMessage | None = None
        for line in lines:
            if len(line) > self._max:  # checked first, as for a partial line
                first = first or FrameTooLarge(
                    f"path line is {len(line)} bytes, over {self._max}", culprit=self._sender,
                    requirement="FILES-5", data=line)
                continue
            try:
                LoadedFiles((line,))
            except FieldError as error:
                first = first or _malformed(self._sender, error.requirement, error.reason, line)
                continue
            good.append(line)
        assert first is not None
        first.salvaged = (LoadedFiles(good),) if good else ()
        raise first

    def close(self) -> None:
        if self._buffer:
            left, self._buffer = self._buffer, b""
            raise _malformed(self._sender, "FILES-5", "pipe ended inside a line (no newline)",
                             left)


SPEC_DIALECT: Final = Dialect(
    name="spec",
    slave_socket_kind=FdKind.UNIX_DGRAM,
    socket_type_requirement="SOCKET-3",
    root_identifier="",
    identifier_requirement="PID-3",
    has_parent_pid=False,
    files_on_pipe=False,
    socket_payload=b"\0",
    runs_commands=False,
)

ZEUS_DIALECT: Final = Dialect(
    name="zeus",
    slave_socket_kind=FdKind.UNIX_STREAM,
    socket_type_requirement="SOCKET-4",
    root_identifier="boot",
    identifier_requirement="PID-4",
    has_parent_pid=True,
    files_on_pipe=True,
    socket_payload=b"\0",
    runs_commands=True,
)

DIALECTS: Final[dict[str, Dialect]] = {"spec": SPEC_DIALECT, "zeus": ZEUS_DIALECT}


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}; choose from {', '.join(DIALECTS)}") \
            from None
