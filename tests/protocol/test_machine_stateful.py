"""Hypothesis drives a Handshake with arbitrary events and compares it with a tiny model.

The model is written from the prose of spec/handshake.md, not from the machine's tables:
steps in order; files from registration until their channel closes; S only when connected.
"""

from __future__ import annotations

import copy
from typing import ClassVar

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, rule

from zeus_fsm.protocol.dialects import Dialect, get_dialect
from zeus_fsm.protocol.errors import ProtocolError
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
    ActionResult,
    LoadedFiles,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)

PID = 321
ERROR = "error"
EVENTS = ["socket", "bad_socket", "pid", "bad_pid", "pipe", "ok", "fail", "files", "spawn",
          "command", "runner", "hangup", "pipeclose", "timeout"]


class Model:
    """The handshake in plain Python: a step name and whether loaded files may arrive."""

    KNOWN: ClassVar[set[str]] = {"socket", "pid", "pipe", "ok", "fail", "files", "spawn",
                                 "command", "runner", "hangup", "pipeclose",
                                 "timeout"}  # else: bad

    def __init__(self, zeus: bool) -> None:
        self.zeus = zeus
        self.phase = "socket"
        self.files_open = False

    def step(self, what: str) -> str | None:
        """Apply one event; say ERROR if it breaks a rule (a stray deadline is no event)."""
        outcome = self._step(what)
        if outcome == ERROR:
            self.phase, self.files_open = "broken", False
        return outcome

    def _step(self, what: str) -> str | None:
        if what == "timeout" and self.phase in ("connected", "closed", "broken"):
            return None  # nothing was being waited for: no event at all
        if self.phase == "broken":
            return ERROR
        if self.phase in ("socket", "pid", "pipe"):
            return self._registering(what)
        return self._registered(what)

    def _registering(self, what: str) -> str | None:
        """socket -> pid -> [pipe, zeus] -> action: each step only by its own event."""
        phase = self.phase
        if (phase, what) == ("socket", "socket"):
            self.phase = "pid"
        elif (phase, what) == ("pid", "pid"):
            self.phase = "pipe" if self.zeus else "action"
            self.files_open = not self.zeus
        elif (phase, what) == ("pipe", "pipe") and self.zeus:
            self.phase, self.files_open = "action", True
        else:
            return ERROR
        return None

    def _registered(self, what: str) -> str | None:
        phase = self.phase
        if what == "command" and phase == "connected" and self.zeus:
            self.phase = "command"  # zeus: a runner's socket must answer C
        elif what == "runner" and phase == "command":
            self.phase = "connected"
        elif what == "spawn" and phase == "command":
            pass  # the child registers on the master socket, not on this stream
        elif what in ("ok", "fail") and phase == "action":
            self.phase = "connected" if what == "ok" else "crashed"
        elif (what == "files" and self.files_open) or (
                what in ("spawn", "command") and phase == "connected"):
            pass  # accepted; nothing changes
        elif what == "hangup" and phase in ("connected", "crashed"):
            self.phase = "closed"
            if not self.zeus:  # spec: the one channel carried the files too
                self.files_open = False
        elif what == "pipeclose" and self.zeus and self.files_open:
            self.files_open = False
        else:
            return ERROR
        return None


class HandshakeAgainstModel(RuleBasedStateMachine):
    dialect: ClassVar[Dialect]

    def __init__(self) -> None:
        super().__init__()
        wire = self.dialect
        self.zeus = wire.name == "zeus"
        self.machine = Handshake(wire, Expectation(identifier=wire.root_identifier,
                                                   parent_pid=0 if self.zeus else None, pid=PID))
        self.model = Model(self.zeus)

    def feed(self, what: str, event: Event) -> None:
        before = (self.machine.phase, self.machine.files_open)
        expected = self.model.step(what)
        try:
            self.machine.handle(event)
        except ProtocolError:
            assert expected == ERROR, f"{what} refused in {before}, model allows it"
            assert self.machine.error is not None
        else:
            assert expected is None, f"{what} accepted in {before}, model says {expected}"
        assert self.machine.phase == self.model.phase
        assert self.machine.files_open == self.model.files_open

    def event(self, what: str) -> Event:
        wire, zeus = self.dialect, self.zeus
        if what in ("socket", "bad_socket"):  # bad: the other dialect's socket type
            kind = FdKind.UNIX_STREAM if zeus == (what == "socket") else FdKind.UNIX_DGRAM
            return SocketPassed((kind,), peer_pid=PID)
        if what in ("pid", "bad_pid"):  # bad: an impostor's pid
            return PidIdentifier(PID if what == "pid" else PID + 1, wire.root_identifier,
                                 0 if zeus else None)
        events: dict[str, Event] = {
            "pipe": PipePassed((FdKind.FIFO,)),
            "ok": ActionResult(),
            "fail": ActionResult("Traceback ...\nError: no\n"),
            "files": LoadedFiles((b"/app/a.rb", b"/app/\xff.rb")),
            "spawn": SpawnSlave("child"),
            "command": SpawnCommand("console"),
            "runner": RunnerPassed((FdKind.UNIX_DGRAM,), peer_pid=PID + 7),
            "hangup": ChannelClosed(),
            "pipeclose": PipeClosed(),
            "timeout": Deadline(1.0),
        }
        return events[what]

    @rule(data=st.data())
    def step(self, data: st.DataObject) -> None:
        # Mostly what the model allows, so walks get deep; sometimes anything at all.
        allowed = [w for w in EVENTS if copy.deepcopy(self.model).step(w) is None]
        anything = not allowed or data.draw(st.integers(0, 14), label="roll") == 0
        what = data.draw(st.sampled_from(EVENTS if anything else allowed), label="event")
        self.feed(what if what in self.model.KNOWN else "bad", self.event(what))


class SpecMachine(HandshakeAgainstModel):
    dialect = get_dialect("spec")


class ZeusMachine(HandshakeAgainstModel):
    dialect = get_dialect("zeus")


STATEFUL = settings(max_examples=100, stateful_step_count=20, deadline=None)
SpecMachine.TestCase.settings = STATEFUL
ZeusMachine.TestCase.settings = STATEFUL
TestSpecHandshake = SpecMachine.TestCase
TestZeusHandshake = ZeusMachine.TestCase
