"""One slave as the master holds it: its protocol connection, lifecycle and OS handles.

The decoding and judging is the protocol's SlaveConnection (shared with the
checker); this module adds what only a running master has: the lifecycle kept
in step with the handshake's phase, the bounded wait the slave is in, the
observer events, and the handles (socket, pipe, pidfd, process) that the
Master owns and closes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from zeus_fsm.master.observe import (
    ErrorRecorded,
    HandshakeFed,
    HandshakeMoved,
    LifecycleMoved,
    ObservedEvent,
    SessionRef,
)
from zeus_fsm.protocol.connection import SlaveConnection
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.events import Event, FdKind
from zeus_fsm.protocol.lifecycle import Lifecycle
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import ActionResult, PidIdentifier
from zeus_fsm.protocol.tables import TransitionSpec
from zeus_fsm.transport.fds import Clock

if TYPE_CHECKING:
    import socket
    import subprocess

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

    connection: SlaveConnection = attrs.field(init=False, repr=False)
    lifecycle: Lifecycle = attrs.field(init=False, repr=False)
    pid: int | None = None
    #: SO_PEERCRED pid of the slave's socket: the process the master signals.
    peer_pid: int | None = None
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

    def __attrs_post_init__(self) -> None:
        self.connection = self._connect(self.expect)
        self.lifecycle = Lifecycle(on_transition=self._lifecycle_moved)

    def restart(self, expect: Expectation) -> None:
        """Make a stopped session ready to boot a new process (lifecycle `reset`).

        What the old process reported is forgotten (observers saw it); `boots` counts.
        """
        self.lifecycle.fire("reset")
        self.expect = expect
        self.connection = self._connect(expect)
        self.pid = self.peer_pid = self.exit_status = None
        self.errors = []
        self.exited = self.stopping = False
        self.started_at = self.registered_at = self.result_at = None
        self.process = None
        # A boot that failed while waiting for its socket left deadline_for "socket":
        # the new boot would then get no deadline at all.
        self.deadline, self.deadline_for = None, ""
        self.boots += 1

    def _connect(self, expect: Expectation) -> SlaveConnection:
        return SlaveConnection(self.dialect, expect,
                               on_event=self._fed if self.emit is not None else None,
                               on_accepted=self._accepted, on_transition=self._moved)

    # ---- reading ------------------------------------------------------------

    @property
    def handshake(self) -> Handshake:
        return self.connection.handshake

    @property
    def result(self) -> ActionResult | None:
        return self.connection.result

    @property
    def loaded_files(self) -> list[bytes]:
        return self.connection.loaded_files

    @property
    def duplicate_files(self) -> int:
        return self.connection.duplicate_files

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

    # ---- feeding (the connection decodes and judges; see protocol/connection.py) -----

    def feed(self, event: Event) -> None:
        self.connection.feed(event)

    def feed_socket(self, kinds: tuple[FdKind, ...], payload: bytes,
                    peer_pid: int | None, peer_uid: int | None,
                    peer_group: int | None = None) -> None:
        self.peer_pid = peer_pid
        self.connection.socket_passed(kinds, payload, peer_pid, peer_uid, peer_group)

    def feed_datagrams(self, datagrams: Iterable[bytes]) -> None:
        """spec: the datagrams of one read round, fed as one round."""
        self.connection.datagrams(datagrams)

    def feed_stream(self, data: bytes) -> None:
        """zeus: bytes read from the NUL-framed stream."""
        self.connection.received(data)

    def feed_pipe(self, data: bytes) -> None:
        """zeus: bytes read from the loaded-files pipe: one batch per read."""
        self.connection.pipe_received(data)

    def fd_passed(self, kinds: tuple[FdKind, ...]) -> None:
        self.connection.fd_passed(kinds)

    def channel_ended(self) -> None:
        self.connection.channel_ended()

    def pipe_ended(self) -> None:
        self.connection.pipe_ended()

    def deadline_passed(self) -> None:
        """The bounded wait ran out: the Handshake names the step (it raises)."""
        seconds = self.deadline.seconds if self.deadline else 0.0
        self.deadline = None
        self.connection.deadline_passed(seconds)

    def record_error(self, error: ProtocolError) -> None:
        error.with_state(self.handshake.describe_state())
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
        if self.waiting_for_step or self.handshake.phase == "command":
            wanted = self.handshake.phase  # "command": C sent, its runner socket is owed
            seconds = step_timeout
        elif self.draining and not self.handshake.finished:
            wanted, seconds = "drain", drain_timeout
        else:
            self.deadline, self.deadline_for = None, ""
            return
        if self.deadline_for != wanted:
            self.deadline, self.deadline_for = Clock(seconds), wanted

    # ---- internals ------------------------------------------------------------

    def _fed(self, event: Event) -> None:
        assert self.emit is not None
        self.emit(HandshakeFed(time.monotonic(), self.ref(), event))

    def _accepted(self, event: Event) -> None:
        if isinstance(event, PidIdentifier):
            self.pid = event.pid
            self.registered_at = time.monotonic()
        elif isinstance(event, ActionResult):
            self.result_at = time.monotonic()
        self._follow_handshake()

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

