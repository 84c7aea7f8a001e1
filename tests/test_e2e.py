"""End to end: the Master and the reference slave (`python -m zeus_fsm.slave`), real processes.

Both dialects: the root boots the demo plan; children are spawned with S; the
loaded files the master records are exactly the ones the plan loaded; the
crashed child is drained before it is stopped; nothing is left behind.
(Faulty slaves are in test_master.py, against independent fake slaves.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from functools import partial

import pytest
from fake_slaves.harness import no_leaks

from zeus_fsm.examples import demo
from zeus_fsm.master.loop import Master
from zeus_fsm.master.observe import (
    Channel,
    Direction,
    HandshakeFed,
    LifecycleMoved,
    ObservedEvent,
    ProcessAction,
    ProcessEvent,
    WireEvent,
)
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.protocol.messages import LoadedFiles

PLAN = "zeus_fsm.examples.demo:DemoPlan"
#: Files of the demo package: the ones the plan itself loads (the stdlib may add more).
DEMO_DIR = os.fsencode(os.path.dirname(os.path.realpath(demo.__file__))) + b"/"


def slave_command(dialect: str) -> list[str]:
    return [sys.executable, "-m", "zeus_fsm.slave", "--plan", PLAN, "--dialect", dialect]


def plan_files(session: SlaveSession) -> set[bytes]:
    return {path for path in session.loaded_files if path.startswith(DEMO_DIR)}


def expected(session: SlaveSession) -> frozenset[bytes]:
    return demo.EXPECTED_FILES[session.identifier or "boot"]


def _has_expected(session: SlaveSession, files: list[bytes]) -> bool:
    return expected(session) <= set(files)


class Run:
    """One master session with the real slave: root, child_ok, child_fail, child_lazy."""

    def __init__(self, master: Master, events: list[ObservedEvent]) -> None:
        self.master = master
        self.events = events
        self.root = master.boot_root()
        self.ok = master.spawn(self.root, "child_ok")
        self.fail = master.spawn(self.root, "child_fail")
        self.lazy = master.spawn(self.root, "child_lazy")
        self.fail_stopped = master.wait_stopped(self.fail, timeout=5.0)
        for session in (self.root, self.ok, self.lazy):
            master.wait_files(session, partial(_has_expected, session), timeout=5.0)

    def of(self, session: SlaveSession) -> list[ObservedEvent]:
        return [e for e in self.events if getattr(e, "session", None) is not None
                and e.session.session_id == session.session_id]  # type: ignore[union-attr]


def start(dialect: str, events: list[ObservedEvent]) -> Master:
    return Master(slave_command(dialect), dialect, step_timeout=10.0, drain_timeout=5.0,
                  observer=events.append)


@pytest.fixture(scope="module", params=["spec", "zeus"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """One run per dialect, shared by the tests that only read it."""
    events: list[ObservedEvent] = []
    with start(request.param, events) as master:
        yield Run(master, events)


@pytest.mark.parametrize("dialect", ["spec", "zeus"])
def test_nothing_is_left_behind(dialect: str) -> None:
    events: list[ObservedEvent] = []
    with no_leaks() as roots:  # no fd of this process, no slave process, afterwards
        with start(dialect, events) as master:
            done = Run(master, events)
            roots.append(done.root.pid or 0)
            live = [s.identifier for s in master.sessions if s.lifecycle.live]
            assert len(live) == 3, live  # root, child_ok, child_lazy: still connected
        assert all(s.lifecycle.state == "stopped" for s in master.sessions)
        assert done.root.exit_status is not None  # the root was reaped


def test_root_boots(run: Run) -> None:
    root = run.root
    assert root.ok, root.errors
    assert root.process is not None and root.pid == root.process.pid
    assert root.identifier == run.master.dialect.root_identifier and root.parent_pid == 0


def test_children_are_spawned_with_s(run: Run) -> None:
    for child in (run.ok, run.lazy):
        assert child.ok, child.errors
        assert child.lifecycle.state == "connected"
    for child in (run.ok, run.fail, run.lazy):
        assert child.parent_pid == run.root.pid
        assert child.pid not in (None, run.root.pid)
    sent = [e.data for e in run.events if isinstance(e, WireEvent)
            and e.direction is Direction.SENT]
    end = b"\0" if run.master.dialect.name == "zeus" else b""
    assert sent == [b"S:child_ok" + end, b"S:child_fail" + end, b"S:child_lazy" + end]


def test_failed_child_reports_a_python_traceback(run: Run) -> None:
    result = run.fail.result
    assert result is not None and result.error is not None
    assert result.error.startswith("Traceback (most recent call last):\n")
    assert result.error.endswith(f"RuntimeError: {demo.FAIL_MESSAGE}\n")
    assert run.fail.errors == []  # a failed action breaks no rule
    assert run.fail_stopped and run.fail.lifecycle.state == "stopped"


def test_loaded_files_are_exactly_the_plans(run: Run) -> None:
    for session in (run.root, run.ok, run.fail, run.lazy):
        assert plan_files(session) == expected(session), session.identifier
        assert all(os.path.isabs(path) for path in session.loaded_files)
        assert len(set(session.loaded_files)) == len(session.loaded_files)
        assert session.duplicate_files == 0  # the slave reported each once (FILES-3)


def test_lazy_file_arrives_after_the_result(run: Run) -> None:
    mine = run.of(run.lazy)
    result_at = next(i for i, e in enumerate(mine) if isinstance(e, HandshakeFed)
                     and type(e.event).__name__ == "ActionResult")
    lazy_path = next(iter(demo.EXPECTED_FILES["child_lazy"]))
    file_at = next(i for i, e in enumerate(mine) if isinstance(e, HandshakeFed)
                   and isinstance(e.event, LoadedFiles) and lazy_path in e.event.paths)
    assert result_at < file_at


def test_crashed_child_is_drained_before_it_is_stopped(run: Run) -> None:
    mine = run.of(run.fail)
    last_file = max(i for i, e in enumerate(mine) if isinstance(e, HandshakeFed)
                    and isinstance(e.event, LoadedFiles))
    stopped = next(i for i, e in enumerate(mine) if isinstance(e, LifecycleMoved)
                   and e.trigger == "stop")
    assert last_file < stopped
    # The slave closed its channel (zeus: EOF; spec: it exited) before any signal.
    closed = next(i for i, e in enumerate(mine) if isinstance(e, HandshakeFed)
                  and type(e.event).__name__ == "ChannelClosed")
    signals = [i for i, e in enumerate(mine) if isinstance(e, ProcessEvent)
               and e.action is ProcessAction.SIGNALLED]
    assert all(i > max(closed, last_file) for i in signals)


def test_p_pid_is_the_peer_credentials_pid(run: Run) -> None:
    for session in (run.root, run.ok, run.fail, run.lazy):
        assert session.pid is not None and session.pid == session.peer_pid
    registrations = [e for e in run.events if isinstance(e, WireEvent)
                     and e.channel is Channel.MASTER]
    assert len(registrations) == 4  # one per slave, no strays
    assert run.master.strays == []
