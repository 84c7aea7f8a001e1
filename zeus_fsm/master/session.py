"""One slave as the master sees it: decoders, Handshake, lifecycle and what was reported.

Sans-I/O: the Master reads bytes and fds and hands them here; this module
decodes them, feeds the Handshake (which decides), keeps the lifecycle in
step with the handshake's phase, and records pid, result and loaded files.
It never touches an fd; the handles it holds are owned and closed by the Master.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable, Iterable

import attrs

from zeus_fsm.master.observe import (
    ErrorRecorded,
    HandshakeFed,
    HandshakeMoved,
    LifecycleMoved,
    ObservedEvent,
    SessionRef,
)
from zeus_fsm.protocol.dialects import ChannelDecoder, Dialect, PathLineDecoder
from zeus_fsm.protocol.errors import ProtocolError, Role, UnexpectedEvent
from zeus_fsm.protocol.events import (
    ChannelClosed,
    Deadline,
    Event,
    FdKind,
    PipeClosed,
    PipePassed,
    SocketPassed,
)
from zeus_fsm.protocol.lifecycle import Lifecycle
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import (
    ActionResult,
    LoadedFiles,
    Message,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.protocol.tables import TransitionSpec
from zeus_fsm.transport.fds import Clock

#: Handshake phases that wait for the slave's next step (bounded by step_timeout).
STEP_PHASES = frozenset({"socket", "pid", "pipe", "action"})


@attrs.define(eq=False)
class SlaveSession:
    """Everything the master knows about one slave. Mutable; read it, do not write it.

    `pid` is the pid the slave claimed in P once the Handshake accepted it
    (for the root, the pid of the process the master started). `parent_pid` is
    0 for the root and the forking slave's pid for a child, in both dialects.
    """

    session_id: int
    identifier: str
    dialect: Dialect
    expect: Expectation
    parent: SlaveSession | None = None
    #: Where observed events go; None: no observer, so no event objects are built at all.
    emit: Callable[[ObservedEvent], None] | None = attrs.field(default=None, repr=False)

    handshake: Handshake = attrs.field(init=False, repr=False)
    lifecycle: Lifecycle = attrs.field(init=False, repr=False)
    pid: int | None = None
    #: SO_PEERCRED pid of the slave's socket: the process the master signals.
    peer_pid: int | None = None
    loaded_files: list[bytes] = attrs.Factory(list)
    #: How many reported paths were already in loaded_files (FILES-3 says report once).
    duplicate_files: int = 0
    result: ActionResult | None = None
    errors: list[ProtocolError] = attrs.Factory(list)
    #: The root's exit status once reaped (children are reaped by their parent slave).
    exit_status: int | None = None
    exited: bool = False
    #: How many processes this session has booted (a stopped root can be booted again).
    boots: int = 1
    #: The master is stopping it: EOFs from now on are the master's doing.
    stopping: bool = False
    #: time.monotonic() when the root was started / S was sent, P accepted, R received.
    started_at: float | None = None
    registered_at: float | None = None
    result_at: float | None = None

    # I/O handles, owned by the Master.
    channel: socket.socket | None = attrs.field(default=None, repr=False)
    pipe: int | None = attrs.field(default=None, repr=False)
    process_fd: int | None = attrs.field(default=None, repr=False)
    process: subprocess.Popen[bytes] | None = attrs.field(default=None, repr=False)
    #: The bounded wait the session is in, and the phase it bounds.
    deadline: Clock | None = attrs.field(default=None, repr=False)
    deadline_for: str = attrs.field(default="", repr=False)

    _seen: set[bytes] = attrs.field(factory=set, repr=False)
    _channel_decoder: ChannelDecoder = attrs.field(init=False, repr=False)
    _pipe_decoder: PathLineDecoder | None = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        self.handshake = Handshake(self.dialect, self.expect, on_transition=self._moved)
        self.lifecycle = Lifecycle(on_transition=self._lifecycle_moved)
        self._channel_decoder = self.dialect.channel_decoder(Role.SLAVE)
        self._pipe_decoder = self.dialect.pipe_decoder() if self.dialect.files_on_pipe else None

    def restart(self, expect: Expectation) -> None:
        """Make a stopped session ready to boot a new process (lifecycle `reset`).

        What the old process reported is forgotten (observers saw it); `boots` counts.
        """
        self.lifecycle.fire("reset")
        self.expect = expect
        self.handshake = Handshake(self.dialect, expect, on_transition=self._moved)
        self._channel_decoder = self.dialect.channel_decoder(Role.SLAVE)
        self._pipe_decoder = self.dialect.pipe_decoder() if self.dialect.files_on_pipe else None
        self.pid = self.peer_pid = self.result = self.exit_status = None
        self.loaded_files, self._seen, self.duplicate_files = [], set(), 0
        self.errors = []
        self.exited = self.stopping = False
        self.started_at = self.registered_at = self.result_at = None
        self.process = None
        # A boot that failed while waiting for its socket left deadline_for "socket":
        # the new boot would then get no deadline at all.
        self.deadline, self.deadline_for = None, ""
        self.boots += 1

    # ---- reading ------------------------------------------------------------

    @property
    def parent_pid(self) -> int:
        if self.parent is None:
            return 0
        return self.parent.pid or 0

    @property
    def is_root(self) -> bool:
        return self.parent is None

    @property
    def ok(self) -> bool:
        """Connected with R:OK and no rule broken."""
        return self.result is not None and self.result.ok and not self.errors

    @property
    def depth(self) -> int:
        return 0 if self.parent is None else self.parent.depth + 1

    def ref(self) -> SessionRef:
        return SessionRef(self.session_id, self.identifier, self.pid, self.parent_pid)

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else f"session {self.session_id}"
        return f"slave {self.identifier or '(root)'!s} ({who})"

    # ---- feeding ------------------------------------------------------------

    def feed(self, event: Event) -> None:
        """Hand one event to the Handshake (it raises on a broken rule), then record it."""
        if self.emit is not None:
            self.emit(HandshakeFed(time.monotonic(), self.ref(), event))
        self.handshake.handle(event)
        if isinstance(event, LoadedFiles):
            self._record_files(event.paths)
        elif isinstance(event, ActionResult):
            self.result = event
            self.result_at = time.monotonic()
        elif isinstance(event, PidIdentifier):
            self.pid = event.pid
            self.registered_at = time.monotonic()
        self._follow_handshake()

    def feed_socket(self, kinds: tuple[FdKind, ...], payload: bytes,
                    peer_pid: int | None, peer_uid: int | None) -> None:
        self.peer_pid = peer_pid
        self.feed(SocketPassed(kinds, payload, peer_pid, peer_uid))

    def feed_datagrams(self, datagrams: Iterable[bytes]) -> None:
        """spec: the datagrams of one read round; consecutive F paths become one batch."""
        messages: list[Message] = []
        try:
            for datagram in datagrams:
                messages.extend(self._channel_decoder.feed(datagram))
        except ProtocolError:
            self._feed_messages(messages)
            raise
        self._feed_messages(messages)

    def feed_stream(self, data: bytes) -> None:
        """zeus: bytes read from the NUL-framed stream."""
        try:
            messages = self._channel_decoder.feed(data)
        except ProtocolError as error:
            self._feed_messages(_messages(error.salvaged))
            raise
        self._feed_messages(messages)

    def feed_pipe(self, data: bytes) -> None:
        """zeus: bytes read from the loaded-files pipe: one batch per read."""
        assert self._pipe_decoder is not None
        try:
            batch = self._pipe_decoder.feed(data)
        except ProtocolError as error:
            self._feed_messages(_messages(error.salvaged))
            raise
        if batch is not None:
            self.feed(batch)

    def fd_passed(self, kinds: tuple[FdKind, ...]) -> None:
        """An fd arrived on the slave socket (zeus: its pipe; spec: a fault)."""
        self.feed(PipePassed(kinds))

    def channel_ended(self) -> None:
        """The slave socket reached EOF (zeus) or the slave exited (spec)."""
        self._channel_decoder.close()  # a frame cut short is FRAME-2
        self.feed(ChannelClosed())

    def pipe_ended(self) -> None:
        assert self._pipe_decoder is not None
        self._pipe_decoder.close()
        self.feed(PipeClosed())

    def deadline_passed(self) -> None:
        """The bounded wait ran out: the Handshake names the step (it raises)."""
        seconds = self.deadline.seconds if self.deadline else 0.0
        self.deadline = None
        self.feed(Deadline(seconds))

    def record_error(self, error: ProtocolError) -> None:
        error.with_state(self.handshake.describe_state())  # decoders do not know the state
        self.errors.append(error)
        if self.emit is not None:
            self.emit(ErrorRecorded(time.monotonic(), self.ref(), error))
        if self.lifecycle.allows("fail"):
            self.lifecycle.fire("fail")

    # ---- bounded waits --------------------------------------------------------

    @property
    def waiting_for_step(self) -> bool:
        """Spawning or booting: the slave owes the next step of its handshake."""
        return (self.lifecycle.state in ("spawning", "booting")
                and self.handshake.phase in STEP_PHASES)

    @property
    def draining(self) -> bool:
        """Crashed (R:<error> or gone): loaded files may still come until the channel closes."""
        return self.lifecycle.state == "crashed" and not self.errors

    def update_deadline(self, step_timeout: float, drain_timeout: float) -> None:
        """Start a new bounded wait whenever the step being waited for changes."""
        if self.waiting_for_step:
            wanted = self.handshake.phase
            seconds = step_timeout
        elif self.draining and not self.handshake.finished:
            wanted, seconds = "drain", drain_timeout
        else:
            self.deadline, self.deadline_for = None, ""
            return
        if self.deadline_for != wanted:
            self.deadline, self.deadline_for = Clock(seconds), wanted

    # ---- internals ------------------------------------------------------------

    def _feed_messages(self, messages: list[Message]) -> None:
        """Messages decoded from the slave. S and C are the master's: the Handshake blames
        whoever its tables say sends a trigger, so a slave's S is stopped here, as the
        slave's fault."""
        for message in _batched(messages):
            if isinstance(message, SpawnSlave | SpawnCommand):
                letter = "S" if isinstance(message, SpawnSlave) else "C"
                raise UnexpectedEvent(f"the slave sent {letter}, which only the master sends",
                                      culprit=Role.SLAVE, requirement="FRAME-1",
                                      state=self.handshake.describe_state(),
                                      data=self.dialect.encode(message))
            self.feed(message)

    def _record_files(self, paths: tuple[bytes, ...]) -> None:
        seen = self._seen
        for path in paths:
            if path in seen:
                self.duplicate_files += 1
            else:
                seen.add(path)
                self.loaded_files.append(path)

    def _follow_handshake(self) -> None:
        """Keep the lifecycle in step with the handshake's phase."""
        phase, state = self.handshake.phase, self.lifecycle.state
        if state == "spawning" and phase not in ("socket", "pid"):
            self.lifecycle.fire("register")
            state = self.lifecycle.state
        if state == "booting" and phase == "connected":
            self.lifecycle.fire("succeed")
        elif state == "booting" and phase in ("crashed", "closed"):
            self.lifecycle.fire("fail")
        elif state == "connected" and phase == "closed":
            self.lifecycle.fire("fail")  # a connected slave that goes away has crashed

    def _moved(self, before: str, trigger: str, after: str, spec: TransitionSpec) -> None:
        if self.emit is not None:
            self.emit(HandshakeMoved(time.monotonic(), self.ref(), before, trigger, after, spec))

    def _lifecycle_moved(self, before: str, trigger: str, after: str,
                         spec: TransitionSpec) -> None:
        if self.emit is not None:
            self.emit(LifecycleMoved(time.monotonic(), self.ref(), before, trigger, after,
                                     spec))


def _messages(salvaged: tuple[object, ...]) -> list[Message]:
    return [m for m in salvaged if isinstance(m, Message)]


def _batched(messages: list[Message]) -> list[Message]:
    """Merge runs of consecutive LoadedFiles into one batch (one Handshake event per read)."""
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
