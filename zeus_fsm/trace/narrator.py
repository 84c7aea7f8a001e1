"""`zeus-fsm trace`: run the master against a slave and narrate the handshake live.

Built only on the master's observer API (observe.py): every event the master
reports is recorded, and narrated as it happens: the bytes that crossed a
channel (shown safely), the transition of the slave's handshake they caused,
the step of the seed it belongs to, the requirement it satisfies (ID and
sentence from requirements.py), and the elapsed time. The first protocol
violation stops the narration with the same diagnostic `check` gives
(requirement, Expected, Actual); the run then only cleans up.

The recorded events also feed `trace/views.py` (the sequence diagram of this
run, and the state diagram with the path taken).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Final

import attrs

from zeus_fsm.master.loop import Master
from zeus_fsm.master.observe import (
    Channel,
    CommandMoved,
    Direction,
    ErrorRecorded,
    HandshakeFed,
    HandshakeMoved,
    LifecycleMoved,
    ObservedEvent,
    ProcessEvent,
    SessionRef,
    WireEvent,
)
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.protocol import machine
from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import MalformedMessage, ProtocolError
from zeus_fsm.protocol.escapes import escape_bytes
from zeus_fsm.protocol.requirements import SECTIONS, requirement
from zeus_fsm.trace.views import reads_consumed, rows_fired
from zeus_fsm.transport.drain import read_to_eof
from zeus_fsm.transport.processes import DIALECT_ENV

#: The reference slave's demo children (zeus_fsm/examples/demo.py).
DEMO_CHILDREN: Final = ("child_ok", "child_fail", "child_lazy")
#: How much of a payload one narration line shows.
SHOWN_CHARS: Final = 96
#: After the last spawn, keep listening this long for lazy files and closing channels.
DEFAULT_LINGER: Final = 0.3
#: The step a slave reaches when R:OK is accepted (not a requirement section of its own).
CONNECTED: Final = "Connected"

_GAP = " " * 11  # the width of the time column, for continuation lines


def reference_slave(dialect: str) -> list[str]:
    """The command that starts the bundled reference slave with the demo plan."""
    return [sys.executable, "-m", "zeus_fsm.slave", "--dialect", dialect]


def step_name(requirement_id: str) -> str:
    """The seed's step a requirement belongs to: its spec/handshake.md section title."""
    return SECTIONS[requirement(requirement_id).section]


def who(ref: SessionRef | None) -> str:
    if ref is None:
        return "unclaimed"
    name = ref.identifier or "root"
    return f"{name}[{ref.pid}]" if ref.pid else f"{name}[?]"


def show_data(data: bytes) -> str:
    text = escape_bytes(data)
    if len(text) <= SHOWN_CHARS:
        return text
    return f"{text[:SHOWN_CHARS]}... ({len(data)} bytes)"


def show_state(state: str) -> str:
    """`up_result_action, up_files_open` -> `action + files open` (what a reader tracks)."""
    parts: list[str] = []
    for leaf in state.split(", "):
        if leaf.startswith("up_result_"):
            parts.append(leaf.removeprefix("up_result_"))
        elif leaf.startswith("up_files_"):
            parts.append("files " + leaf.removeprefix("up_files_"))
        else:
            parts.append(leaf)
    return " + ".join(parts)


def expected_in(dialect: str, state: str) -> str:
    """What the handshake accepts in a state: the triggers of its transitions, explained."""
    leaves = state.split(", ")
    docs = {t.name: t.doc for t in machine.TRIGGERS}
    triggers = sorted({t.trigger for t in machine.transitions_for(dialect) if t.source in leaves})
    if not triggers:
        return "nothing more"
    return "; ".join(f"{t} ({docs[t]})" for t in triggers)


@attrs.define
class Narrator:
    """The master's observer: records every event, narrates until the first violation."""

    dialect: Dialect
    write: Callable[[str], None]
    started: float = attrs.Factory(time.monotonic)
    events: list[ObservedEvent] = attrs.Factory(list)
    violation: ErrorRecorded | None = None
    #: The handshake state of each session, as last reported (for Expected:).
    _states: dict[int, str] = attrs.Factory(dict)
    #: Requirements whose sentence was already printed.
    _cited: set[str] = attrs.Factory(set)
    #: spec: datagrams read but not yet fed, per session (see _holds).
    _held: dict[int, list[WireEvent]] = attrs.Factory(dict)

    def __call__(self, event: ObservedEvent) -> None:
        self.events.append(event)
        if self.violation is not None:
            return  # the narration stopped at the failing step
        for line in self._lines(event):
            self.write(line)

    def finish(self) -> None:
        """Print what is still held (datagrams whose effect never came)."""
        if self.violation is None:
            for session_id in list(self._held):
                for line in self._release(session_id, None):
                    self.write(line)

    def _stamp(self, at: float) -> str:
        return f"{(at - self.started) * 1000:8.1f} ms"

    def _holds(self, event: WireEvent) -> bool:
        """spec: the master reads a round of datagrams, then feeds them. Holding each
        datagram until its message is fed keeps every line next to its effect, so a
        violation is narrated right after the datagram that caused it."""
        return (not self.dialect.files_on_pipe and event.session is not None
                and event.direction is Direction.RECEIVED and event.channel is Channel.SLAVE
                and bool(event.data) and not event.fds and not event.eof)

    def _release(self, session_id: int, count: int | None) -> list[str]:
        held = self._held.get(session_id, [])
        taken, self._held[session_id] = (held, []) if count is None else \
            (held[:count], held[count:])
        return [self._wire(event) for event in taken]

    def _lines(self, event: ObservedEvent) -> list[str]:
        session_id = event.session.session_id if event.session is not None else None
        if isinstance(event, WireEvent) and self._holds(event):
            assert session_id is not None
            self._held.setdefault(session_id, []).append(event)
            return []
        if isinstance(event, HandshakeFed):
            return self._release(event.session.session_id,
                                 reads_consumed(event, self.dialect.files_on_pipe))
        if isinstance(event, ErrorRecorded):
            # a message the machine refused was fed (and shown); bytes that did not
            # decode never were: show that datagram now
            shown: list[str] = []
            if session_id is not None and isinstance(event.error, MalformedMessage):
                shown = self._release(session_id, 1)
            self.violation = event
            return shown + self._diagnostic(event)
        flushed = self._release(session_id, None) if session_id is not None and \
            isinstance(event, WireEvent | ProcessEvent) else []
        return flushed + self._event_lines(event)

    def _event_lines(self, event: ObservedEvent) -> list[str]:
        if isinstance(event, WireEvent):
            return [self._wire(event)]
        if isinstance(event, HandshakeMoved):
            return self._moved(event)
        if isinstance(event, LifecycleMoved):
            return [f"{_GAP}  master's view of {who(event.session)}: {event.before} -> "
                    f"{event.after} ({event.trigger}, {event.spec.requirement})"]
        if isinstance(event, CommandMoved):
            return self._command_moved(event)
        if isinstance(event, ProcessEvent):
            detail = f": {event.detail}" if event.detail else ""
            return [f"{self._stamp(event.at)}  master {event.action.value} pid {event.pid}"
                    f" ({who(event.session)}){detail}"]
        return []

    def _wire(self, event: WireEvent) -> str:
        arrow = "->" if event.direction is Direction.RECEIVED else "<-"
        what = show_data(event.data) if event.data else ""
        if event.fds:
            what += f" + fd: {', '.join(kind.value for kind in event.fds)}"
        if event.eof:
            what = (what + " then " if what else "") + "end of file"
        return (f"{self._stamp(event.at)}  {who(event.session)} {arrow} master  "
                f"[{event.channel.value}]  {what}")

    def _moved(self, event: HandshakeMoved) -> list[str]:
        self._states[event.session.session_id] = event.after
        change = (f"stays {show_state(event.after)}" if event.before == event.after
                  else f"{show_state(event.before)} -> {show_state(event.after)}")
        lines = [f"{_GAP}  {step_name(event.spec.requirement)} step for "
                 f"{who(event.session)}: {change} (trigger: {event.trigger})"]
        for row in rows_fired(self.dialect.name, event):
            rule = requirement(row.requirement)
            # the sentence once per run: a slave reporting many files repeats FILES-8 a lot
            said = f"{rule.level}: {rule.text}" if rule.id not in self._cited else "(as above)"
            self._cited.add(rule.id)
            lines.append(f"{_GAP}    satisfies {rule.id} {said}")
        if "up_result_connected" in event.after and "up_result_connected" not in event.before:
            lines.append(f"{_GAP}  {CONNECTED}: {who(event.session)} has done steps 1-4; "
                         "it now serves S, and loaded files may still arrive")
        return lines

    def _command_moved(self, event: CommandMoved) -> list[str]:
        change = (f"stays {event.after}" if event.before == event.after
                  else f"{event.before} -> {event.after}")
        rule = requirement(event.spec.requirement)
        said = f"{rule.level}: {rule.text}" if rule.id not in self._cited else "(as above)"
        self._cited.add(rule.id)
        return [f"{_GAP}  command {event.name!r} #{event.run_id} on {who(event.session)}: "
                f"{change} (trigger: {event.trigger})",
                f"{_GAP}    satisfies {rule.id} {said}"]

    def _diagnostic(self, event: ErrorRecorded) -> list[str]:
        error = event.error
        rule = requirement(error.requirement)
        state = (self._states.get(event.session.session_id, "socket")
                 if event.session is not None else "socket")
        return [
            f"{self._stamp(event.at)}  VIOLATION by the {error.culprit.value} "
            f"({who(event.session)}): {rule.id} {rule.level}: {rule.text}",
            f"{_GAP}    Expected: {expected_in(self.dialect.name, state)}",
            f"{_GAP}    Actual:   {error.describe()}",
            f"{_GAP}  (narration stops here; the master stops the slaves and closes)",
        ]


def _has_all(wanted: frozenset[bytes], files: list[bytes]) -> bool:
    return wanted <= set(files)


def _settle(master: Master, session: SlaveSession,
            expected_files: Mapping[str, frozenset[bytes]] | None, action: str) -> None:
    wanted = (expected_files or {}).get(action)
    if wanted and session.lifecycle.live:
        master.wait_files(session, partial(_has_all, wanted))
    if session.lifecycle.state == "crashed":
        master.wait_stopped(session)


def _run_command(master: Master, slave: SlaveSession, words: Sequence[bytes],
                 write: Callable[[str], None], timeout: float) -> None:
    """One command on `slave`, as a client would ask for it; its output and status."""
    name, args = words[0].decode("utf-8", "surrogateescape"), list(words[1:])
    client = subprocess.Popen(["sleep", "600"])  # a live pid for the runner to watch
    try:
        args_ours, args_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_ours, out_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        err_ours, err_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        with args_ours, out_ours, err_ours:
            run = master.start_command(slave, name, client.pid,
                                       (args_theirs.detach(), out_theirs.detach(),
                                        err_theirs.detach()), len(args))
            args_ours.sendall(b"".join(arg + b"\0" for arg in args))
            args_ours.close()
            out_ours.shutdown(socket.SHUT_WR)  # no stdin for it
            master.wait_command(run, timeout)
            if run.error is None and run.status is not None:
                output = read_to_eof(out_ours.fileno(), timeout, 1 << 16)
                write(f"{_GAP}  the command's output: {escape_bytes(output)}; exit status "
                      f"{run.status}, relayed to the client")
    finally:
        client.kill()
        client.wait(timeout)


@attrs.frozen
class TraceRun:
    events: tuple[ObservedEvent, ...]
    violation: ProtocolError | None
    errors: tuple[ProtocolError, ...]


def run_trace(command: Sequence[str], dialect: Dialect, children: Sequence[str],
              write: Callable[[str], None], step_timeout: float = 5.0,
              linger: float = DEFAULT_LINGER,
              expected_files: Mapping[str, frozenset[bytes]] | None = None,
              one_at_a_time: bool = False,
              commands: Sequence[Sequence[bytes]] = ()) -> TraceRun:
    """Boot the root, spawn `children` from it, listen `linger` seconds more, close.

    `expected_files` (per identifier) are waited for before that, each wait
    bounded by `step_timeout`: the demo's lazy child reports its file after R,
    and a trace that closed first would not show step 5 running on. Every wait
    is the master's, bounded. Raises OSError when the command cannot be started.
    """
    narrator = Narrator(dialect, write)
    write(f"zeus-fsm trace: {dialect.name} dialect; root slave: {' '.join(command)}")
    write(f"{'time':>11}  who -> master  [channel]  bytes, then what they did "
          "(who: identifier[pid], [?] until the pid is known from P)")
    # the slave learns its dialect the way `zeus-fsm check` tells it (the reference
    # slave and the minimal test slave both read this variable)
    env = {**os.environ, DIALECT_ENV: dialect.name}
    with Master(command, dialect, step_timeout=step_timeout, observer=narrator,
                env=env) as master:
        root = master.boot_root()
        if one_at_a_time:
            _settle(master, root, expected_files, "boot")  # the root's action, in both dialects
        for identifier in children:
            if narrator.violation is not None or not root.ok:
                break
            child = master.spawn(root, identifier)
            if one_at_a_time:
                _settle(master, child, expected_files, identifier)
        for session in master.sessions:
            wanted = (expected_files or {}).get(session.identifier)
            if wanted and narrator.violation is None and session.lifecycle.live:
                master.wait_files(session, partial(_has_all, wanted))
        for words in commands:
            if narrator.violation is None and root.ok and dialect.runs_commands:
                _run_command(master, root, words, write, step_timeout)
        if narrator.violation is None:
            master.run(lambda: narrator.violation is not None, timeout=linger)
    narrator.finish()
    errors = tuple(master.errors)
    violation = narrator.violation.error if narrator.violation is not None else None
    if violation is None and errors:
        violation = errors[0]
    return TraceRun(tuple(narrator.events), violation, errors)
