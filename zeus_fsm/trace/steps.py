"""A traced run as numbered steps: what the illustrated page walks through.

One step is one thing the master's handshake of a slave was fed (a message,
an fd that arrived, a channel that closed), one process action of the master
(it starts the root, it stops a slave), or the violation that ended the run.
Each step says which process lane it concerns, who sent what on which
channel, the bytes as named fields (views/wire.py), the states of that
slave's handshake before and after, the table rows it took and the
requirements they satisfy. Built from the master's observer events only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import attrs

from zeus_fsm.master.observe import (
    Channel,
    ErrorRecorded,
    HandshakeFed,
    HandshakeMoved,
    LifecycleMoved,
    ObservedEvent,
    ProcessAction,
    ProcessEvent,
    SessionRef,
)
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import MalformedMessage
from zeus_fsm.protocol.events import (
    ChannelClosed,
    Deadline,
    Event,
    PipeClosed,
    PipePassed,
    RunnerPassed,
    SocketPassed,
)
from zeus_fsm.protocol.machine import TRIGGERS, trigger_of
from zeus_fsm.trace.views import fed_channel, rows_fired
from zeus_fsm.views.state import BROKEN, edge_element_id, rejection_element_id
from zeus_fsm.views.wire import VALUE, Field, Frame, fd_payload, frames

MASTER: Final = "master"
_MASTER_TRIGGERS: Final = frozenset(t.name for t in TRIGGERS if t.sender.value == "master")


@attrs.frozen
class Lane:
    """One process: the master, or a slave (the root and every forked child)."""

    key: str
    label: str
    parent: str | None = None  # the lane that forked it


@attrs.define
class Step:
    number: int
    lane: str  # the slave this step concerns (MASTER for none)
    sender: str
    receiver: str
    channel: str  # "" for a process action
    kind: str  # the trigger, or "start", "signal", "malformed"
    frames: list[Frame] = attrs.Factory(list)
    fds: list[str] = attrs.Factory(list)
    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    edges: list[str] = attrs.Factory(list)
    requirements: list[str] = attrs.Factory(list)
    lifecycle: list[str] = attrs.Factory(list)
    violation: str = ""
    violation_requirement: str = ""
    rejected: list[str] = attrs.Factory(list)
    at_ms: float | None = None
    event: Event | None = None
    detail: str = ""  # a process action's detail: the command line, the signal


@attrs.frozen
class Story:
    dialect: str
    lanes: tuple[Lane, ...]
    steps: tuple[Step, ...]


def lane_label(ref: SessionRef) -> str:
    name = ref.identifier or "root"
    return f"{name} (pid {ref.pid})" if ref.pid else name


def leaves(state: str) -> tuple[str, ...]:
    return tuple(state.split(", "))


def rejection_ids(state: tuple[str, ...]) -> list[str]:
    """The dashed edge(s) to `broken` the diagram draws for a refusal in `state`."""
    top = state[0].split("_", 1)[0]
    if top == BROKEN:
        return []
    if "_" in state[0]:  # inside the parallel state: its summary is a note
        return [rejection_element_id(top, part) for part in ("in", "note", "out")]
    return [rejection_element_id(top)]


class _Builder:
    def __init__(self, dialect: Dialect, times: bool) -> None:
        self.dialect = dialect
        self.times = times
        self.started: float | None = None
        self.lanes: dict[str, Lane] = {MASTER: Lane(MASTER, "master")}
        self.keys: dict[int, str] = {}
        self.by_pid: dict[int, str] = {}
        self.states: dict[str, tuple[str, ...]] = {}
        self.steps: list[Step] = []
        self.pending_lifecycle: dict[str, list[str]] = {}
        self.stopped = False

    def lane(self, ref: SessionRef) -> str:
        key = self.keys.get(ref.session_id)
        if key is None:
            key = f"s{ref.session_id}"
            self.keys[ref.session_id] = key
            parent = self.by_pid.get(ref.parent_pid or 0) if ref.parent_pid else None
            self.lanes[key] = Lane(key, lane_label(ref), parent)
            self.states[key] = ("socket",)
        if ref.pid and ref.pid not in self.by_pid:
            self.by_pid[ref.pid] = key
            self.lanes[key] = attrs.evolve(self.lanes[key], label=lane_label(ref))
        return key

    def step(self, lane: str, sender: str, receiver: str, channel: str, kind: str,
             at: float) -> Step:
        if self.started is None:
            self.started = at
        step = Step(len(self.steps) + 1, lane, sender, receiver, channel, kind,
                    before=self.states.get(lane, ()), after=self.states.get(lane, ()),
                    at_ms=round((at - self.started) * 1000, 1) if self.times else None)
        step.lifecycle += self.pending_lifecycle.pop(lane, [])
        self.steps.append(step)
        return step

    def add(self, event: ObservedEvent) -> None:
        if self.stopped:
            return
        if isinstance(event, HandshakeFed):
            self.fed(event)
        elif isinstance(event, HandshakeMoved):
            self.moved(event)
        elif isinstance(event, LifecycleMoved):
            key = self.lane(event.session)
            text = f"{event.before} \N{RIGHTWARDS ARROW} {event.after} ({event.trigger}, " \
                   f"{event.spec.requirement})"
            last = self.steps[-1] if self.steps else None
            if last is not None and last.lane == key:
                last.lifecycle.append(text)
            else:
                self.pending_lifecycle.setdefault(key, []).append(text)
        elif isinstance(event, ProcessEvent):
            self.process(event)
        elif isinstance(event, ErrorRecorded):
            self.error(event)

    def fed(self, event: HandshakeFed) -> None:
        key = self.lane(event.session)
        trigger = trigger_of(event.event)
        if trigger in _MASTER_TRIGGERS:
            sender, receiver, channel = MASTER, key, Channel.SLAVE.value
        else:
            sender, receiver = key, MASTER
            channel = fed_channel(event, self.dialect.files_on_pipe).value
        step = self.step(key, sender, receiver, channel, trigger, event.at)
        step.event = event.event
        step.frames, step.fds = self.bytes_of(event.event)

    def bytes_of(self, event: Event) -> tuple[list[Frame], list[str]]:
        if isinstance(event, SocketPassed):
            return [fd_payload(event.payload)], [k.value for k in event.kinds]
        if isinstance(event, PipePassed):
            return [fd_payload(b"\0")], [k.value for k in event.kinds]
        if isinstance(event, RunnerPassed):
            return [fd_payload(event.payload)], [k.value for k in event.kinds]
        if isinstance(event, ChannelClosed | PipeClosed | Deadline):
            return [], []
        return frames(self.dialect, event), []

    def moved(self, event: HandshakeMoved) -> None:
        key = self.lane(event.session)
        step = next(s for s in reversed(self.steps) if s.lane == key)
        step.after = leaves(event.after)
        self.states[key] = step.after
        for row in rows_fired(self.dialect.name, event):
            step.edges.append(edge_element_id(row))
            step.requirements.append(row.requirement)

    def process(self, event: ProcessEvent) -> None:
        if event.session is None:
            return
        key = self.lane(event.session)
        if event.action is ProcessAction.STARTED:
            step = self.step(key, MASTER, key, "", "start", event.at)
            step.requirements.append("SOCKET-1")
            step.detail = event.detail
        elif event.action is ProcessAction.SIGNALLED:
            step = self.step(key, MASTER, key, "", "signal", event.at)
            step.detail = event.detail
            step.frames = [(Field("signal", (event.detail or "signal").encode(), VALUE),)]

    def error(self, event: ErrorRecorded) -> None:
        self.stopped = True  # as the narration does: the run ends at its first violation
        error = event.error
        key = self.lane(event.session) if event.session is not None else MASTER
        last = self.steps[-1] if self.steps else None
        if last is not None and last.lane == key and last.event is not None \
                and not isinstance(error, MalformedMessage) and last.after == last.before \
                and not last.edges:
            step = last  # the event the machine refused
        else:  # bytes that never decoded: the machine was never fed
            sender = key if error.culprit.value == "slave" else MASTER
            step = self.step(key, sender, MASTER if sender == key else key,
                             Channel.SLAVE.value, "malformed", event.at)
            if error.data:
                step.frames = [(Field("bytes that do not decode", error.data, VALUE),)]
        step.rejected = rejection_ids(step.before or ("socket",))
        step.after = (BROKEN,)
        step.edges = []
        step.violation = error.describe()
        step.violation_requirement = error.requirement
        if key != MASTER:
            self.states[key] = step.after


def story_of(events: Sequence[ObservedEvent], dialect: Dialect, times: bool = True) -> Story:
    builder = _Builder(dialect, times)
    for event in events:
        builder.add(event)
    return Story(dialect.name, tuple(builder.lanes.values()), tuple(builder.steps))
