"""A traced run as numbered steps: what the illustrated page walks through.

One step is one thing the master's handshake of a slave was fed (a message,
an fd that arrived, a channel that closed), one process action of the master
(it starts the root, it stops a slave), one move of a command's machine on its
runner socket (zeus: the header, the fds, the command's P, its exit status),
or the violation that ended the run.
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
    CommandMoved,
    Direction,
    ErrorRecorded,
    HandshakeFed,
    HandshakeMoved,
    LifecycleMoved,
    ObservedEvent,
    ProcessAction,
    ProcessEvent,
    SessionRef,
    WireEvent,
)
from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import MalformedMessage, ProtocolError
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
from zeus_fsm.views.command_machine import command_edge_id
from zeus_fsm.views.state import BROKEN, edge_element_id, rejection_element_id
from zeus_fsm.views.wire import VALUE, Field, Frame, command_frame, fd_payload, frames

MASTER: Final = "master"
_MASTER_TRIGGERS: Final = frozenset(t.name for t in TRIGGERS if t.sender.value == "master")
#: The machine a step moves: the slave's handshake, or one command's (protocol/command.py).
HANDSHAKE: Final = "handshake"
COMMAND: Final = "command"
#: A command step's kind is its trigger with this prefix (the handshake has a `pid` too).
RUN: Final = "run-"
#: The fds the master sends a runner, in order (CMD-3).
RUNNER_FDS: Final = ("arguments", "stdout (and stdin)", "stderr")


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
    machine: str = HANDSHAKE  # whose states before/after/edges are
    commands: list[str] = attrs.Factory(list)  # a command's moves this handshake step caused
    forks: str | None = None  # the lane a process forked in this step (the runner, on C)


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
        # commands (zeus): one at a time per slave (CMD-1), so keyed by the slave's lane
        self.runners: dict[str, str] = {}  # slave lane -> its current runner's lane
        self.sending: dict[str, Step] = {}  # slave lane -> the step whose bytes follow
        self.received: dict[str, list[bytes]] = {}  # slave lane -> runner reads not shown

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
        elif isinstance(event, CommandMoved):
            self.command_moved(event)
        elif isinstance(event, WireEvent) and event.channel is Channel.RUNNER:
            self.runner_wire(event)

    def fed(self, event: HandshakeFed) -> None:
        key = self.lane(event.session)
        trigger = trigger_of(event.event)
        if trigger in _MASTER_TRIGGERS:
            sender, receiver, channel = MASTER, key, Channel.SLAVE.value
        else:
            sender, receiver = key, MASTER
            channel = fed_channel(event, self.dialect.files_on_pipe).value
        if isinstance(event.event, RunnerPassed):  # the runner, just forked, sends it
            sender = self.new_runner(key)
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

    def new_runner(self, slave: str) -> str:
        """A lane for the runner the slave forked on C; the C step draws the fork."""
        runners = sum(1 for lane in self.lanes.values()
                      if lane.parent == slave and lane.label == "runner")
        key = f"{slave}r{runners + 1}"
        self.lanes[key] = Lane(key, "runner", slave)
        self.runners[slave] = key
        asked = next((s for s in reversed(self.steps) if s.lane == slave and s.kind == "command"),
                     None)
        if asked is not None:
            asked.forks = key
        return key

    def command_moved(self, event: CommandMoved) -> None:
        """A command's machine moved: C and the runner socket are handshake steps already;
        the rest happens on the runner socket, in steps of their own."""
        slave = self.lane(event.session)
        rule = f"{event.before} \N{RIGHTWARDS ARROW} {event.after} ({event.trigger}, " \
               f"{event.spec.requirement})"
        if event.trigger in ("command", "runner"):
            last = next((s for s in reversed(self.steps) if s.lane == slave), None)
            if last is not None:
                last.commands.append(f"command {event.name!r}: {rule}")
            return
        runner = self.runners.get(slave) or self.new_runner(slave)
        sender, receiver, channel = runner, MASTER, Channel.RUNNER.value
        if event.trigger in ("header", "fds"):
            sender, receiver = MASTER, runner
        frames: list[Frame] = []
        if event.trigger in ("pid", "exit"):
            frames = self.runner_frames(slave)
        if event.trigger == "pid":
            sender = self.command_lane(runner, event.name, frames)
        elif event.trigger == "ended":
            sender, channel = self.command_lane(runner, event.name, []), ""
        lane = receiver if sender == MASTER else sender
        step = self.step(lane, sender, receiver, channel, RUN + event.trigger, event.at)
        step.machine = COMMAND
        step.before, step.after = (event.before,), (event.after,)
        step.edges.append(command_edge_id(event.spec.source, event.trigger,
                                          event.spec.dest))
        step.requirements.append(event.spec.requirement)
        step.frames = frames
        step.detail = event.name
        if event.trigger in ("header", "fds"):
            self.sending[slave] = step

    def command_lane(self, runner: str, name: str, frames: list[Frame]) -> str:
        """The command's lane (forked by the runner); its pid comes with its P."""
        key = runner + "c"
        if key not in self.lanes:
            pid = next((f.data.decode() for frame in frames for f in frame
                        if f.name == "command pid"), "")
            label = f"{name} (pid {pid})" if pid else name
            self.lanes[key] = Lane(key, label, runner)
        return key

    def runner_wire(self, event: WireEvent) -> None:
        """Runner-socket bytes: the master's follow their move, the slave's precede it."""
        slave = self.lane(event.session) if event.session is not None else MASTER
        if event.direction is Direction.SENT:
            step = self.sending.get(slave)
            if step is None:
                return
            if event.fds:  # one fd per message (CMD-3)
                step.frames.append(fd_payload(event.data))
                name = RUNNER_FDS[min(len(step.fds), len(RUNNER_FDS) - 1)]
                step.fds += [f"{name}: {kind.value}" for kind in event.fds]
            else:
                step.frames.append(_decoded(event.data))
        elif event.data:
            self.received.setdefault(slave, []).append(event.data)

    def runner_frames(self, slave: str) -> list[Frame]:
        return [_decoded(data) for data in self.received.pop(slave, [])]

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


def _decoded(data: bytes) -> Frame:
    """Runner-socket bytes as named fields (the codec's own split), or as raw bytes."""
    one_frame = data.endswith(b"\0") and data.count(b"\0") == 1
    attempts = (lambda: command_wire.decode_header(data),
                lambda: command_wire.decode_command_pid(data[:-1]),
                lambda: command_wire.decode_exit_status(data[:-1]))
    for decode in attempts if one_frame else ():
        try:
            return command_frame(decode())
        except ProtocolError:
            continue
    return (Field("bytes", data, VALUE),)


def story_of(events: Sequence[ObservedEvent], dialect: Dialect, times: bool = True) -> Story:
    builder = _Builder(dialect, times)
    for event in events:
        builder.add(event)
    return Story(dialect.name, tuple(builder.lanes.values()), tuple(builder.steps))
