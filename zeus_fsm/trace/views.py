"""Pictures of one traced run: its sequence diagram, and the state diagram with its path.

Both are built from the events the master reported (observe.py), nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from zeus_fsm.master.observe import (
    Channel,
    Direction,
    ErrorRecorded,
    HandshakeFed,
    HandshakeMoved,
    ObservedEvent,
    ProcessAction,
    ProcessEvent,
    SessionRef,
    WireEvent,
)
from zeus_fsm.protocol.dialects import get_dialect
from zeus_fsm.protocol.errors import MalformedMessage
from zeus_fsm.protocol.escapes import escape_bytes
from zeus_fsm.protocol.events import ChannelClosed, Deadline, PipeClosed, SocketPassed
from zeus_fsm.protocol.machine import TRIGGERS, transitions_for
from zeus_fsm.protocol.messages import LoadedFiles, Message
from zeus_fsm.protocol.tables import TransitionSpec
from zeus_fsm.views.sequence import Arrow, Item, Note, Participant, render
from zeus_fsm.views.state import BROKEN, Highlight, to_dot

#: How much of a payload one arrow shows.
ARROW_CHARS = 48
_MASTER_TRIGGERS = frozenset(t.name for t in TRIGGERS if t.sender.value == "master")


def _short(data: bytes) -> str:
    text = escape_bytes(data)
    return text if len(text) <= ARROW_CHARS else f"{text[:ARROW_CHARS]}... ({len(data)} bytes)"


def reads_consumed(fed: HandshakeFed, files_on_pipe: bool) -> int | None:
    """How many reads of its channel one fed event was decoded from (None: all so far).

    zeus: the master feeds each read as soon as it is read. spec: it reads a round
    of datagrams, then feeds them, one message per datagram, consecutive F
    datagrams merged into one batch. Fd facts, closes and deadlines take all.
    """
    event = fed.event
    if files_on_pipe or not isinstance(event, Message):
        return None
    return len(event.paths) if isinstance(event, LoadedFiles) else 1


def fed_channel(fed: HandshakeFed, files_on_pipe: bool) -> Channel:
    """The channel a fed event was read from."""
    if isinstance(fed.event, SocketPassed):
        return Channel.MASTER
    if files_on_pipe and isinstance(fed.event, LoadedFiles | PipeClosed):
        return Channel.PIPE
    return Channel.SLAVE


class _Sequence:
    """Turns events into arrows; a transition's requirement joins the arrow it came from."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.files_on_pipe = get_dialect(dialect).files_on_pipe
        self.participants: list[Participant] = [Participant("M", "master")]
        self.items: list[Item] = []
        self.stopped = False  # a violation ends the picture, as it ends the narration
        self._keys: dict[int, str] = {}
        self._pids: dict[int, str] = {}  # pid -> participant key, to draw forks
        self._unfed: dict[tuple[str, Channel], list[int]] = {}  # arrows read, not yet fed
        self._current: dict[str, int] = {}  # participant -> the arrow last fed
        self._pending_sent: dict[str, list[str]] = {}  # requirements of S/C not yet on the wire
        self._arrow_reqs: dict[int, list[str]] = {}
        self._dropped: set[int] = set()  # read but never judged: the run stopped before

    def key(self, ref: SessionRef) -> str:
        known = self._keys.get(ref.session_id)
        if known is None:
            known = f"S{ref.session_id}"
            self._keys[ref.session_id] = known
            self.participants.append(Participant(known, _label(ref)))
            parent = self._pids.get(ref.parent_pid or 0)
            if parent is not None:
                self.items.append(Arrow(parent, known, "fork · SPAWN-2", dashed=True))
        if ref.pid and ref.pid not in self._pids:  # the pid arrives with P: name it
            self._pids[ref.pid] = known
            self.participants = [Participant(p.key, _label(ref)) if p.key == known else p
                                 for p in self.participants]
        return known

    def wire(self, event: WireEvent) -> None:
        if event.session is None:
            return  # traffic nobody claimed shows up as an error, drawn as a note
        key = self.key(event.session)
        what = _short(event.data) if event.data else ""
        if event.fds:
            what += f" + fd: {', '.join(k.value for k in event.fds)}"
        if event.eof:
            what = (what + " then " if what else "") + "end of file"
        text = f"{event.channel.value}: {what}"
        if event.direction is Direction.RECEIVED:
            self.items.append(Arrow(key, "M", text, dashed=event.eof and not event.data))
            self._unfed.setdefault((key, event.channel), []).append(len(self.items) - 1)
        else:
            self.items.append(Arrow("M", key, text))
            self._arrow_reqs[len(self.items) - 1] = self._pending_sent.pop(key, [])

    def fed(self, event: HandshakeFed) -> None:
        key = self.key(event.session)
        queue = self._unfed.get((key, fed_channel(event, self.files_on_pipe)), [])
        count = reads_consumed(event, self.files_on_pipe)
        taken = queue[:] if count is None else queue[:count]
        del queue[:len(taken)]
        if not taken and isinstance(event.event, ChannelClosed | PipeClosed | Deadline):
            # no read carried it (spec sees a slave's end as its process exiting): draw it
            self.items.append(Arrow(key, "M", _silent_fact(event.event), dashed=True))
            taken = [len(self.items) - 1]
        if taken:
            self._current[key] = taken[-1]

    def moved(self, event: HandshakeMoved) -> None:
        key = self.key(event.session)
        reqs = [row.requirement for row in rows_fired(self.dialect, event)]
        if event.spec.trigger in _MASTER_TRIGGERS:  # S is fed before it is sent
            self._pending_sent.setdefault(key, []).extend(reqs)
        elif key in self._current:
            self._arrow_reqs.setdefault(self._current[key], []).extend(reqs)
        if "up_result_connected" in event.after and "up_result_connected" not in event.before:
            self.items.append(Note((key,), "connected"))

    def process(self, event: ProcessEvent) -> None:
        if event.session is None:
            return
        key = self.key(event.session)
        if event.action is ProcessAction.STARTED:
            self.items.append(Note(("M", key), "master starts the root slave with "
                                               "ZEUS_MASTER_FD · SOCKET-1"))
        elif event.action is ProcessAction.SIGNALLED:
            self.items.append(Arrow("M", key, f"{event.detail or 'signal'} (the master stops it)",
                                    dashed=True))

    def error(self, event: ErrorRecorded) -> None:
        over: tuple[str, ...] = ("M",)
        if event.session is not None:
            key = self.key(event.session)
            over = (key,)
            unfed = [i for (k, _), queue in self._unfed.items() if k == key for i in queue]
            if isinstance(event.error, MalformedMessage) and unfed:
                unfed = unfed[1:]  # the datagram that did not decode stays: it is the culprit
            self._dropped.update(unfed)
        self.items.append(Note(over, f"violation: {event.error.describe()}"))
        self.stopped = True

    def finished(self) -> list[Item]:
        out: list[Item] = []
        for index, item in enumerate(self.items):
            if index in self._dropped:
                continue
            reqs = self._arrow_reqs.get(index)
            if isinstance(item, Arrow) and reqs:
                unique = list(dict.fromkeys(reqs))
                item = Arrow(item.sender, item.receiver, f"{item.text} · {', '.join(unique)}",
                             item.dashed)
            out.append(item)
        return out


def _silent_fact(event: ChannelClosed | PipeClosed | Deadline) -> str:
    if isinstance(event, Deadline):
        return f"nothing within {event.seconds:g} s"
    return "the pipe closed" if isinstance(event, PipeClosed) else "the channel closed"


def _label(ref: SessionRef) -> str:
    name = ref.identifier or "root"
    return f"{name} (pid {ref.pid})" if ref.pid else name


def sequence_of(events: Sequence[ObservedEvent], dialect: str) -> str:
    """The Mermaid sequence diagram of a traced run (real pids, real bytes)."""
    seq = _Sequence(dialect)
    for event in events:
        if seq.stopped:
            break
        if isinstance(event, WireEvent):
            seq.wire(event)
        elif isinstance(event, HandshakeFed):
            seq.fed(event)
        elif isinstance(event, HandshakeMoved):
            seq.moved(event)
        elif isinstance(event, ProcessEvent):
            seq.process(event)
        elif isinstance(event, ErrorRecorded):
            seq.error(event)
    return render(f"zeus-fsm trace, {dialect} dialect", seq.participants, seq.finished())


def rows_fired(dialect: str, event: HandshakeMoved) -> list[TransitionSpec]:
    """Every table row one event took: in the parallel state one trigger can move both
    regions (spec: the channel's end closes the result and the files region), while
    the observer reports the first row only."""
    rows = {(t.source, t.trigger): t for t in transitions_for(dialect)}
    fired = [rows[(leaf, event.trigger)] for leaf in event.before.split(", ")
             if (leaf, event.trigger) in rows]
    return fired or [event.spec]


def path_of(events: Sequence[ObservedEvent], dialect: str) -> Highlight:
    """Every transition any slave took in the run, and where a violation broke one."""
    steps: set[tuple[str, str, str]] = set()
    visited: set[str] = set()
    failed_from: str | None = None
    states: dict[int, str] = {}
    for event in events:
        if isinstance(event, HandshakeMoved):
            steps.update((r.source, r.trigger, r.dest) for r in rows_fired(dialect, event))
            visited.update(event.before.split(", "))
            visited.update(event.after.split(", "))
            states[event.session.session_id] = event.after
        elif isinstance(event, ErrorRecorded) and failed_from is None:
            before = (states.get(event.session.session_id, "socket")
                      if event.session is not None else "socket")
            failed_from = before.split(", ")[0]
            visited.update(before.split(", "))
            visited.add(BROKEN)
    caption = ("Blue: the path this run took" +
               ("; bold red: where it broke a rule." if failed_from else "."))
    return Highlight(frozenset(steps), frozenset(visited), failed_from, caption)


def highlighted_dot(events: Sequence[ObservedEvent], dialect: str) -> str:
    return to_dot(dialect, path_of(events, dialect))
