"""Pictures of one traced run: its sequence diagram, and the state diagram with its path.

Both are built from the events the master reported (observe.py), nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence

from zeus_fsm.diagrams import BROKEN, Highlight, to_dot
from zeus_fsm.diagrams_sequence import Arrow, Item, Note, Participant, escape_bytes, render
from zeus_fsm.machine import TRIGGERS, TransitionSpec, transitions_for
from zeus_fsm.observe import (
    Direction,
    ErrorRecorded,
    HandshakeMoved,
    ObservedEvent,
    ProcessAction,
    ProcessEvent,
    SessionRef,
    WireEvent,
)

#: How much of a payload one arrow shows.
ARROW_CHARS = 48
_MASTER_TRIGGERS = frozenset(t.name for t in TRIGGERS if t.sender.value == "master")


def _short(data: bytes) -> str:
    text = escape_bytes(data)
    return text if len(text) <= ARROW_CHARS else f"{text[:ARROW_CHARS]}... ({len(data)} bytes)"


class _Sequence:
    """Turns events into arrows; a transition's requirement joins the arrow that caused it."""

    def __init__(self) -> None:
        self.participants: list[Participant] = [Participant("M", "master")]
        self.items: list[Item] = []
        self._keys: dict[int, str] = {}
        self._pids: dict[int, str] = {}  # pid -> participant key, to draw forks
        self._last_arrow: dict[str, int] = {}  # participant -> index of its last arrow in
        self._pending_sent: dict[str, list[str]] = {}  # requirements of S/C not yet on the wire
        self._arrow_reqs: dict[int, list[str]] = {}

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
            self._last_arrow[key] = len(self.items) - 1
        else:
            self.items.append(Arrow("M", key, text))
            self._arrow_reqs[len(self.items) - 1] = self._pending_sent.pop(key, [])

    def moved(self, event: HandshakeMoved) -> None:
        key = self.key(event.session)
        req = event.spec.requirement
        if event.spec.trigger in _MASTER_TRIGGERS:  # S is fed before it is sent
            self._pending_sent.setdefault(key, []).append(req)
        elif key in self._last_arrow:
            self._arrow_reqs.setdefault(self._last_arrow[key], []).append(req)
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
        over = (self.key(event.session),) if event.session is not None else ("M",)
        self.items.append(Note(over, f"violation: {event.error.describe()}"))

    def finished(self) -> list[Item]:
        out: list[Item] = []
        for index, item in enumerate(self.items):
            reqs = self._arrow_reqs.get(index)
            if isinstance(item, Arrow) and reqs:
                unique = list(dict.fromkeys(reqs))
                item = Arrow(item.sender, item.receiver, f"{item.text} · {', '.join(unique)}",
                             item.dashed)
            out.append(item)
        return out


def _label(ref: SessionRef) -> str:
    name = ref.identifier or "root"
    return f"{name} (pid {ref.pid})" if ref.pid else name


def sequence_of(events: Sequence[ObservedEvent], dialect: str) -> str:
    """The Mermaid sequence diagram of a traced run (real pids, real bytes)."""
    seq = _Sequence()
    for event in events:
        if isinstance(event, WireEvent):
            seq.wire(event)
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
