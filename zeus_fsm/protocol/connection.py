"""One slave's connection as a master sees it: decoders + Handshake + what was reported.

Sans-I/O, like h11's Connection: the caller (the master's poll loop, or the
checker's judge) reads bytes and fds and hands them here; this object decodes
them, feeds the Handshake (which decides), and records pid, result and loaded
files. It never touches an fd. Both callers wrap the same object, so the rules
below exist once:

- messages decoded before a bad frame are still delivered, then the error is raised;
- an S or C sent by the slave is the slave's FRAME-1 (only the master sends them);
- consecutive loaded-files messages become one batch (one Handshake event per read);
- a step that runs out of time with part of a frame buffered is FRAME-2, not a
  missing message;
- every error raised carries the Handshake state it surfaced in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from zeus_fsm.protocol.dialects import ChannelDecoder, Dialect, PathLineDecoder
from zeus_fsm.protocol.errors import MalformedMessage, ProtocolError, Role, UnexpectedEvent
from zeus_fsm.protocol.escapes import show_bytes
from zeus_fsm.protocol.events import (
    ChannelClosed,
    Deadline,
    Event,
    FdKind,
    PipeClosed,
    PipePassed,
    RunnerPassed,
    SocketPassed,
)
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import (
    LETTERS,
    ActionResult,
    LoadedFiles,
    Message,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.protocol.tables import TransitionSpec

#: How many of the last bytes received are kept for diagnostics.
KEPT_BYTES = 80
#: How many repeated paths are kept to show (the count is kept whole).
KEPT_REPEATS = 16

Moved = Callable[[str, str, str, TransitionSpec], None]


class SlaveConnection:
    """The master's side of one slave's handshake. Feed it; read what it recorded.

    `on_event` sees every event just before the Handshake judges it (observers),
    `on_accepted` every event it accepted, once recorded; `on_transition` every
    transition the Handshake takes.
    """

    def __init__(self, dialect: Dialect, expect: Expectation, *,
                 on_event: Callable[[Event], None] | None = None,
                 on_accepted: Callable[[Event], None] | None = None,
                 on_transition: Moved | None = None) -> None:
        self.dialect = dialect
        self.handshake = Handshake(dialect, expect, on_transition=on_transition)
        self.on_event = on_event
        self.on_accepted = on_accepted
        self.pid: int | None = None
        self.parent_pid: int | None = None
        self.identifier: str | None = None
        self.result: ActionResult | None = None
        #: Every path reported, in order, each once.
        self.loaded_files: list[bytes] = []
        #: Paths reported after R (the lazily loaded ones).
        self.files_after_result: list[bytes] = []
        #: How many reported paths were already in loaded_files (FILES-3 says report once),
        #: and the first few of them, to show.
        self.duplicate_files = 0
        self.repeated_files: list[bytes] = []
        #: The tail of what the slave's socket delivered, for diagnostics.
        self.last_bytes = b""
        self._seen: set[bytes] = set()
        self._channel: ChannelDecoder | None = dialect.channel_decoder(Role.SLAVE)
        self._pipe: PathLineDecoder | None = (dialect.pipe_decoder() if dialect.files_on_pipe
                                              else None)

    # ---- reading ------------------------------------------------------------

    @property
    def expect(self) -> Expectation:
        return self.handshake.expect

    @property
    def phase(self) -> str:
        return self.handshake.phase

    def describe_state(self) -> str:
        return self.handshake.describe_state()

    # ---- what the master sends -------------------------------------------------

    def sending(self, message: SpawnSlave | SpawnCommand) -> bytes:
        """The Handshake records S or C (a ProtocolError, the master's, if not allowed now);
        the bytes to send."""
        self.feed(message)
        return self.dialect.encode(message)

    # ---- what the slave does ---------------------------------------------------

    def socket_passed(self, kinds: tuple[FdKind, ...], payload: bytes,
                      peer_pid: int | None, peer_uid: int | None,
                      peer_group: int | None = None) -> None:
        """A datagram on the master socket carried (what claims to be) this slave's socket."""
        self.feed(SocketPassed(kinds, payload, peer_pid, peer_uid, peer_group))

    def received(self, data: bytes) -> None:
        """Bytes read from the slave's socket: a stretch of the zeus stream, or one spec
        datagram (use `datagrams` for several)."""
        self.datagrams((data,))

    def datagrams(self, chunks: Iterable[bytes]) -> None:
        """Several reads of the slave's socket in a row, decoded and fed as one round."""
        messages: list[Message] = []
        with self._decoding(messages):
            for data in chunks:
                self.last_bytes = (self.last_bytes + data)[-KEPT_BYTES:]
                messages.extend(self._channel_decoder().feed(data))
        self._deliver(messages)

    def fd_passed(self, kinds: tuple[FdKind, ...]) -> None:
        """An fd arrived on the slave's socket (zeus: its pipe; spec: a fault)."""
        self.feed(PipePassed(kinds))

    def pipe_received(self, data: bytes) -> None:
        """zeus: bytes read from the loaded-files pipe: one batch per read."""
        messages: list[Message] = []
        with self._decoding(messages):
            batch = self._pipe_decoder().feed(data)
        if batch is not None:
            messages.append(batch)
        self._deliver(messages)

    def channel_ended(self) -> None:
        """The slave's socket reached EOF (zeus) or the slave exited (spec)."""
        decoder, self._channel = self._channel, None
        if decoder is not None:
            with self._decoding([]):
                decoder.close()  # a frame cut short is FRAME-2
        self.feed(ChannelClosed())

    def pipe_ended(self) -> None:
        decoder, self._pipe = self._pipe, None
        if decoder is not None:
            with self._decoding([]):
                decoder.close()
        self.feed(PipeClosed())

    def runner_passed(self, kinds: tuple[FdKind, ...], payload: bytes,
                      peer_pid: int | None, peer_uid: int | None) -> None:
        """zeus, after C: an fd arrived on the slave's stream, with the bytes that came with
        it (`payload`: exactly one NUL for a runner socket). The Handshake judges it (CMD-2)."""
        self.last_bytes = (self.last_bytes + payload)[-KEPT_BYTES:]
        self.feed(RunnerPassed(kinds, payload, peer_pid, peer_uid))

    def deadline_passed(self, seconds: float) -> None:
        """The bounded wait for the current step ran out: the Handshake names the step.

        Bytes left in the stream decoder are a frame without its NUL: that, not a
        missing message, is what went wrong (FRAME-2).
        """
        buffered = self._channel.buffered if self._channel is not None else 0
        if buffered:  # a decoding error, like FRAME-2 at EOF: the Handshake never saw it
            raise MalformedMessage(
                f"{buffered} byte(s) arrived without a terminating NUL within {seconds:g} s; "
                f"the last bytes received: {show_bytes(self.last_bytes)}",
                culprit=Role.SLAVE, requirement="FRAME-2", state=self.describe_state(),
                data=self.last_bytes)
        self.feed(Deadline(seconds))

    # ---- feeding the Handshake -------------------------------------------------

    def feed(self, event: Event) -> None:
        """Hand one event to the Handshake (it raises on a broken rule), then record it."""
        if self.on_event is not None:
            self.on_event(event)
        self.handshake.handle(event)
        if isinstance(event, LoadedFiles):
            self._record_files(event.paths)
        elif isinstance(event, ActionResult):
            self.result = event
        elif isinstance(event, PidIdentifier):
            self.pid, self.parent_pid = event.pid, event.parent_pid
            self.identifier = event.identifier
        if self.on_accepted is not None:
            self.on_accepted(event)

    # ---- internals ------------------------------------------------------------

    @contextmanager
    def _decoding(self, decoded: list[Message]) -> Iterator[None]:
        """A decoder's error: deliver what was decoded before the bad frame, then raise it
        with the state it surfaced in (decoders do not know the state)."""
        try:
            yield
        except ProtocolError as error:
            decoded.extend(m for m in error.salvaged if isinstance(m, Message))
            self._deliver(decoded)
            raise error.with_state(self.describe_state()) from None

    def _deliver(self, messages: list[Message]) -> None:
        for message in _batched(messages):
            if isinstance(message, SpawnSlave | SpawnCommand):
                # The Handshake blames whoever its tables say sends a trigger: a slave's
                # S would read as the master's fault. It is the slave's.
                raise UnexpectedEvent(
                    f"the slave sent {LETTERS[type(message)].decode()}, which only the master "
                    "sends",
                    culprit=Role.SLAVE, requirement="FRAME-1", state=self.describe_state(),
                    data=self.dialect.encode(message))
            self.feed(message)

    def _channel_decoder(self) -> ChannelDecoder:
        if self._channel is None:  # a read after the end: the Handshake refuses it
            self._channel = self.dialect.channel_decoder(Role.SLAVE)
        return self._channel

    def _pipe_decoder(self) -> PathLineDecoder:
        if self._pipe is None:
            self._pipe = self.dialect.pipe_decoder()
        return self._pipe

    def _record_files(self, paths: tuple[bytes, ...]) -> None:
        seen = self._seen
        late = self.result is not None
        for path in paths:
            if path in seen:
                self.duplicate_files += 1
                if len(self.repeated_files) < KEPT_REPEATS:
                    self.repeated_files.append(path)
                continue
            seen.add(path)
            self.loaded_files.append(path)
            if late:
                self.files_after_result.append(path)


def _batched(messages: list[Message]) -> list[Message]:
    """Merge runs of consecutive LoadedFiles into one batch."""
    out: list[Message] = []
    run: list[bytes] = []
    for message in messages:
        if isinstance(message, LoadedFiles):
            run.extend(message.paths)
            continue
        if run:
            out.append(LoadedFiles(tuple(run)))
            run = []
        out.append(message)
    if run:
        out.append(LoadedFiles(tuple(run)))
    return out
