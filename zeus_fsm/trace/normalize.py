"""Deterministic mode: a real run's events, with what differs between runs taken out.

The committed example pages are generated from a real run of the reference
slave, then compared byte for byte with a fresh generation (the drift check).
What a run cannot repeat is normalized here, and nothing else:

- pids become the example pids of protocol-notes.md (4605 for the root, then
  4628, 4631, ... in the order the slaves appeared); times are dropped;
- paths inside this project become /app/...; other loaded files (the Python
  installation's modules, which differ between machines) are left out;
- an error text keeps its lines but loses Python's caret lines (they vary
  between Python versions);
- batches of loaded files that the master happened to read in several reads
  are one step per run of consecutive batches;
- a slave that closed its channel is stopped with or without a signal,
  depending on whether it had exited yet: such signals are left out;
- zeus: a failed slave's files travel on the pipe and its R on the socket, so
  the master may read them in either order (the protocol allows both). The
  reference slave sends the files first (CRASH-1); the example shows that order.
  Likewise its socket and pipe reach end of file in either order: the example
  shows the pipe's first, as the master feeds them when it sees both at once.
- zeus, a command: the command's end (its pid gone) and its exit status race, and
  the runner's socket may close before or after the master stops listening: the
  example shows neither the end nor the close, only the status (a path the table
  allows), with each move's states recomputed from today's command tables. The
  files the slave reports while a command runs (the runner's own imports, from
  two processes on one pipe) are one batch, sorted, right after the command.
  The client's and the command's pids become example pids too.

After reordering, every slave's events are fed again to a fresh Handshake
built from today's tables, so the states and rows shown are the machine's own
(a changed transition changes the page).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Sequence
from contextlib import suppress
from typing import Final

import attrs

import zeus_fsm
from zeus_fsm.master.observe import (
    Channel,
    CommandMoved,
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
from zeus_fsm.protocol.command import COMMAND_TRANSITIONS
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.events import ChannelClosed, Event, PipeClosed, SocketPassed
from zeus_fsm.protocol.machine import Handshake
from zeus_fsm.protocol.messages import (
    ActionResult,
    CommandPid,
    LoadedFiles,
    PidIdentifier,
    SpawnCommand,
)
from zeus_fsm.protocol.tables import TransitionSpec

#: The example pids (protocol-notes.md's observed run), then every third pid after.
FIRST_PID: Final = 4605
FIRST_CHILD_PID: Final = 4628
APP: Final = b"/app"
_CARETS: Final = re.compile(r"^\s*[\^~]+\s*$")


def project_root() -> bytes:
    """The directory holding the zeus_fsm package (the checkout, or site-packages)."""
    return os.fsencode(os.path.dirname(os.path.dirname(os.path.realpath(zeus_fsm.__file__))))


@attrs.define
class _Unit:
    """One fed event (or process action, or error) with the moves it caused."""

    head: ObservedEvent
    moves: list[ObservedEvent] = attrs.Factory(list)

    @property
    def session(self) -> int | None:
        ref = self.head.session
        return ref.session_id if ref is not None else None

    @property
    def fed(self) -> Event | None:
        return self.head.event if isinstance(self.head, HandshakeFed) else None


class _Rewriter:
    def __init__(self, dialect: Dialect, root: bytes) -> None:
        self.dialect = dialect
        self.root = root
        self.pids: dict[int, int] = {}

    def learn(self, events: Iterable[ObservedEvent]) -> None:
        """Example pids in order of appearance: root first, children after."""
        for event in events:
            ref = event.session
            if ref is not None and ref.pid and ref.pid not in self.pids:
                self.pids[ref.pid] = (FIRST_PID if not self.pids
                                      else FIRST_CHILD_PID + 3 * (len(self.pids) - 1))

    def pid(self, pid: int | None) -> int | None:
        return self.pids.get(pid, pid) if pid else pid

    def other_pid(self, pid: int) -> int:
        """A pid no slave has (a client's, a command's): the next example pid."""
        if pid not in self.pids:
            self.pids[pid] = FIRST_CHILD_PID + 3 * (len(self.pids) - 1)
        return self.pids[pid]

    def runner_bytes(self, data: bytes) -> bytes:
        """A runner-socket frame with its pids normalized (other bytes as they are)."""
        try:
            header = command_wire.decode_header(data)
            return command_wire.encode(attrs.evolve(
                header, client_pid=self.other_pid(header.client_pid)))
        except ProtocolError:
            pass
        try:
            pid = command_wire.decode_command_pid(data[:-1])
        except ProtocolError:
            return data
        return command_wire.encode(CommandPid(self.other_pid(pid.pid),
                                              self.pid(pid.slave_pid) or pid.slave_pid))

    def ref(self, ref: SessionRef | None) -> SessionRef | None:
        if ref is None:
            return None
        return attrs.evolve(ref, pid=self.pid(ref.pid), parent_pid=self.pid(ref.parent_pid))

    def path(self, path: bytes) -> bytes | None:
        if path == self.root or path.startswith(self.root + b"/"):
            return APP + path[len(self.root):]
        return None

    def text(self, text: str) -> str:
        root = os.fsdecode(self.root)
        lines = [line.replace(root, APP.decode()) for line in text.split("\n")]
        return "\n".join(line for line in lines if not _CARETS.match(line))

    def event(self, event: Event) -> Event | None:
        if isinstance(event, PidIdentifier):
            return attrs.evolve(event, pid=self.pid(event.pid) or event.pid,
                                parent_pid=self.pid(event.parent_pid))
        if isinstance(event, SocketPassed):
            return attrs.evolve(event, peer_pid=self.pid(event.peer_pid), peer_uid=None)
        if isinstance(event, LoadedFiles):
            paths = [p for p in (self.path(path) for path in event.paths) if p is not None]
            return LoadedFiles(tuple(paths)) if paths else None
        if isinstance(event, ActionResult) and event.error is not None:
            return ActionResult(self.text(event.error))
        return event

    def observed(self, event: ObservedEvent) -> ObservedEvent | None:
        """The event with its pids, paths and time normalized (None: leave it out)."""
        ref = self.ref(event.session)
        if isinstance(event, HandshakeFed):
            fed = self.event(event.event)
            assert ref is not None
            return None if fed is None else HandshakeFed(0.0, ref, fed)
        if isinstance(event, ProcessEvent):
            if event.action not in (ProcessAction.STARTED, ProcessAction.SIGNALLED):
                return None  # exits and reaping race with the reads they cause
            detail = event.detail.replace(sys.executable, "python3")
            return ProcessEvent(0.0, ref, event.action, self.pid(event.pid) or 0, detail)
        if isinstance(event, ErrorRecorded):
            return ErrorRecorded(0.0, ref, event.error)
        if isinstance(event, LifecycleMoved | CommandMoved):
            assert ref is not None
            return attrs.evolve(event, at=0.0, session=ref)
        if isinstance(event, WireEvent) and event.channel is Channel.RUNNER:
            return attrs.evolve(event, at=0.0, session=ref,
                                data=self.runner_bytes(event.data))
        return None  # other wire reads: the steps show each message's bytes from the codec


def _units(events: Sequence[ObservedEvent], rewrite: _Rewriter) -> list[_Unit]:
    units: list[_Unit] = []
    hung_up: set[int] = set()
    for raw in events:
        if isinstance(raw, HandshakeMoved):
            continue  # recomputed by the replay
        if isinstance(raw, HandshakeFed) and isinstance(raw.event, ChannelClosed):
            hung_up.add(raw.session.session_id)
        if isinstance(raw, ProcessEvent) and raw.session is not None \
                and raw.session.session_id in hung_up:
            continue  # a slave that closed its channel may or may not be gone yet: a race
        event = rewrite.observed(raw)
        if event is None:
            continue
        if isinstance(event, LifecycleMoved) and units:
            units[-1].moves.append(event)
        else:
            units.append(_Unit(event))
    return units


def _is_failure(unit: _Unit) -> bool:
    return isinstance(unit.fed, ActionResult) and not unit.fed.ok


def _files_first(units: list[_Unit]) -> list[_Unit]:
    """A failed slave's loaded files read right after its R move before it (see above)."""
    out = list(units)
    for failure in [unit for unit in units if _is_failure(unit)]:
        position = out.index(failure)
        moved: list[_Unit] = []
        for other in out[position + 1:]:
            if other.session != failure.session:
                continue
            if not isinstance(other.fed, LoadedFiles):
                break
            moved.append(other)
        for other in moved:
            out.remove(other)
        out[position:position] = moved
    return out


def _pipe_closes_first(units: list[_Unit]) -> list[_Unit]:
    """zeus: a hang-up followed by that slave's pipe closing is shown the other way round;
    the process moves that came after the pair stay after it."""
    out = list(units)
    for index in range(len(out) - 1):
        hangup = out[index]
        if not isinstance(hangup.fed, ChannelClosed):
            continue
        later = [i for i in range(index + 1, len(out)) if out[i].session == hangup.session]
        if later and isinstance(out[later[0]].fed, PipeClosed):
            pipe = out.pop(later[0])
            moves = hangup.moves + pipe.moves
            out[index:index + 1] = [_Unit(pipe.head), _Unit(hangup.head, moves)]
    return out


def _merged(units: list[_Unit]) -> list[_Unit]:
    """Consecutive batches of one slave's loaded files become one batch."""
    out: list[_Unit] = []
    for unit in units:
        last = out[-1] if out else None
        if last is not None and last.session == unit.session \
                and isinstance(last.head, HandshakeFed) and isinstance(last.fed, LoadedFiles) \
                and isinstance(unit.fed, LoadedFiles):
            paths = tuple(dict.fromkeys(last.fed.paths + unit.fed.paths))
            out[-1] = _Unit(attrs.evolve(last.head, event=LoadedFiles(paths)),
                            last.moves + unit.moves)
            continue
        out.append(unit)
    return out


def _replayed(units: list[_Unit], dialect: Dialect) -> list[ObservedEvent]:
    """Feed each slave's events to a fresh Handshake; its moves replace the run's."""
    machines: dict[int, Handshake] = {}
    moves: list[HandshakeMoved] = []
    fed_now: list[SessionRef] = []

    def record(before: str, trigger: str, after: str, spec: TransitionSpec) -> None:
        moves.append(HandshakeMoved(0.0, fed_now[-1], before, trigger, after, spec))

    out: list[ObservedEvent] = []
    for unit in units:
        out.append(unit.head)
        head = unit.head
        if isinstance(head, HandshakeFed):
            fed_now.append(head.session)
            machine = machines.setdefault(head.session.session_id,
                                          Handshake(dialect, on_transition=record))
            with suppress(ProtocolError):  # refused: the run's own ErrorRecorded follows
                machine.handle(head.event)
            out += moves
            moves.clear()
        out += unit.moves
    return out


def _racing(unit: _Unit) -> bool:
    return isinstance(unit.head, CommandMoved) and unit.head.trigger in ("ended", "hangup")


def _command_moves(units: list[_Unit]) -> list[_Unit]:
    """Without the racing moves, each command's states again from the tables."""
    out = [unit for unit in units if not _racing(unit)]
    states: dict[int, str] = {}
    for index, unit in enumerate(out):
        move = unit.head
        if not isinstance(move, CommandMoved):
            continue
        before = states.get(move.run_id, move.before)
        row = next((row for row in COMMAND_TRANSITIONS
                    if row.source == before and row.trigger == move.trigger), None)
        if row is None:  # a refusal: the run's own ErrorRecorded says so
            continue
        after = before if row.dest == "=" else row.dest
        states[move.run_id] = after
        out[index] = _Unit(attrs.evolve(move, before=before, after=after, spec=row),
                           unit.moves)
    return out


def _files_after_commands(units: list[_Unit]) -> list[_Unit]:
    """A slave's files reported from its C to just after its command's last move: one
    sorted batch right after that move."""
    out = list(units)
    for asked in [u for u in units if isinstance(u.fed, SpawnCommand)]:
        mine = [i for i in range(out.index(asked) + 1, len(out))
                if out[i].session == asked.session]
        moves = [i for i in mine if isinstance(out[i].head, CommandMoved)]
        if not moves:
            continue
        ends = [i for i in mine if i > moves[-1] and not isinstance(out[i].fed, LoadedFiles)]
        during = [out[i] for i in mine if isinstance(out[i].fed, LoadedFiles)
                  and i < (ends[0] if ends else len(out))]
        if not during:
            continue
        paths = sorted({path for unit in during
                        if isinstance(unit.fed, LoadedFiles) for path in unit.fed.paths})
        head = during[0].head
        assert isinstance(head, HandshakeFed)
        batch = _Unit(attrs.evolve(head, event=LoadedFiles(tuple(paths))),
                      [move for unit in during for move in unit.moves])
        last = out[moves[-1]]
        out = [unit for unit in out if all(unit is not d for d in during)]
        out.insert(next(i for i, unit in enumerate(out) if unit is last) + 1, batch)
    return out


def normalized(events: Sequence[ObservedEvent], dialect: Dialect,
               root: bytes | None = None) -> list[ObservedEvent]:
    """The run's events as the deterministic example shows them (see the module doc)."""
    rewrite = _Rewriter(dialect, root if root is not None else project_root())
    rewrite.learn(events)
    units = _merged(_pipe_closes_first(_files_first(_units(events, rewrite))))
    units = _files_after_commands(_command_moves(units))
    return _replayed(units, dialect)
