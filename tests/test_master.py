"""The master's lifecycle table, and the Master against small fake slaves (real processes).

The fake slave (tests/fake_slaves/fake_slave.py) is written with raw sockets and
no zeus_fsm code, so the master is judged by an independent peer. Each child's
behaviour is chosen by the identifier it is spawned with.
"""

from __future__ import annotations

import os
import time

import pytest
from fake_slaves.harness import fake_command, no_leaks

from zeus_fsm.master.loop import Master
from zeus_fsm.master.observe import (
    Channel,
    Direction,
    HandshakeFed,
    HandshakeMoved,
    LifecycleMoved,
    ObservedEvent,
    ProcessAction,
    ProcessEvent,
    WireEvent,
)
from zeus_fsm.protocol.errors import (
    BadDescriptor,
    ChannelClosed,
    CredentialsMismatch,
    FrameTooLarge,
    MalformedMessage,
    ProtocolError,
    Role,
    StepTimeout,
    UnexpectedEvent,
)
from zeus_fsm.protocol.events import FdKind
from zeus_fsm.protocol.lifecycle import (
    LIFECYCLE_REJECTIONS,
    LIFECYCLE_STATES,
    LIFECYCLE_TRANSITIONS,
    LIFECYCLE_TRIGGERS,
    Lifecycle,
)
from zeus_fsm.protocol.requirements import BY_ID

DIALECTS = ("spec", "zeus")
STEP = 0.4  # step timeout for the tests' silent slaves: short, but far above a real step


def fake_files(mode: str) -> list[bytes]:
    return [b"/fake/%s/%d.rb" % (mode.encode(), n) for n in range(3)]


# ---- the lifecycle table -------------------------------------------------------------


def test_lifecycle_table_is_consistent() -> None:
    states = {s.name for s in LIFECYCLE_STATES}
    triggers = {t.name for t in LIFECYCLE_TRIGGERS}
    for row in LIFECYCLE_TRANSITIONS:
        assert {row.source, row.dest} <= states, row
        assert row.trigger in triggers, row
        assert row.requirement in BY_ID, row
    assert {r.trigger for r in LIFECYCLE_REJECTIONS} == triggers  # every trigger can be refused
    assert all(r.requirement in BY_ID for r in LIFECYCLE_REJECTIONS)
    reachable = {"unbooted"} | {row.dest for row in LIFECYCLE_TRANSITIONS}
    assert reachable == states


def test_lifecycle_boot_crash_stop_reset() -> None:
    seen: list[tuple[str, str, str]] = []
    life = Lifecycle(on_transition=lambda before, trigger, after, _row:
                     seen.append((before, trigger, after)))
    for trigger in ("start", "register", "fail", "stop", "reset", "start"):
        life.fire(trigger)
    assert seen == [("unbooted", "start", "spawning"), ("spawning", "register", "booting"),
                    ("booting", "fail", "crashed"), ("crashed", "stop", "stopped"),
                    ("stopped", "reset", "unbooted"), ("unbooted", "start", "spawning")]
    assert life.live


def test_registration_nobody_asked_for_is_the_slaves_spawn5() -> None:
    life = Lifecycle()
    with pytest.raises(UnexpectedEvent) as caught:
        life.fire("register", "from pid 42")
    assert caught.value.requirement == "SPAWN-5"
    assert caught.value.culprit is Role.SLAVE
    assert "pid 42" in str(caught.value)
    assert life.state == "unbooted"  # an illegal event changes nothing


def test_second_registration_for_one_start_is_spawn5() -> None:
    life = Lifecycle()
    life.fire("start")
    life.fire("register")
    with pytest.raises(UnexpectedEvent) as caught:
        life.fire("register")
    assert caught.value.requirement == "SPAWN-5"
    assert life.state == "booting"


@pytest.mark.parametrize(("steps", "trigger", "requirement"), [
    (("start",), "start", "SPAWN-1"),
    ((), "stop", "CRASH-2"),
    (("start",), "reset", "CRASH-2"),
])
def test_masters_own_misuse_blames_the_master(steps: tuple[str, ...], trigger: str,
                                              requirement: str) -> None:
    life = Lifecycle()
    for step in steps:
        life.fire(step)
    with pytest.raises(ProtocolError) as caught:
        life.fire(trigger)
    assert caught.value.culprit is Role.MASTER
    assert caught.value.requirement == requirement


# ---- a good fake slave -----------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_root_boots_and_children_register(dialect: str) -> None:
    with no_leaks() as roots, Master(fake_command(dialect), dialect, step_timeout=2.0) as master:
        root = master.boot_root()
        assert root.process is not None
        roots.append(root.process.pid)
        assert root.ok and root.lifecycle.state == "connected"
        assert root.pid == root.process.pid and root.parent_pid == 0
        assert root.identifier == ("boot" if dialect == "zeus" else "")
        child = master.spawn(root, "ok")
        assert child.ok and child.lifecycle.state == "connected", child.errors
        assert child.identifier == "ok"
        assert child.pid not in (None, root.pid)
        assert child.parent_pid == root.pid
        assert child.pid == child.peer_pid  # P agrees with SO_PEERCRED (PID-2)
        assert master.wait_files(child, lambda files: len(files) == 3, timeout=2.0)
        assert master.wait_files(root, lambda files: len(files) == 3, timeout=2.0)
        assert child.loaded_files == fake_files("ok")
        assert child.duplicate_files == 0
        assert master.errors == [] and master.strays == []
    assert root.lifecycle.state == child.lifecycle.state == "stopped"
    assert root.exit_status == -15  # close() stopped the connected root with SIGTERM


@pytest.mark.parametrize("dialect", DIALECTS)
def test_crashed_child_is_drained_before_it_is_stopped(dialect: str) -> None:
    events: list[ObservedEvent] = []
    with no_leaks() as roots, Master(fake_command(dialect), dialect, step_timeout=2.0,
                                     drain_timeout=2.0, observer=events.append) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        child = master.spawn(root, "fail_slow")
        assert child.result is not None and not child.result.ok
        assert child.result.error is not None and "RuntimeError: fail_slow" in child.result.error
        assert child.lifecycle.state == "crashed"  # draining: the last file is 0.3 s away
        assert master.wait_stopped(child, timeout=3.0)
        assert child.loaded_files == fake_files("fail_slow")  # incl. the one after R
        assert child.errors == []  # a failed action is not a broken rule
        mine = [e for e in events if getattr(e, "session", None) is not None
                and e.session.session_id == child.session_id]  # type: ignore[union-attr]
        last_file = max(i for i, e in enumerate(mine) if isinstance(e, HandshakeFed)
                        and type(e.event).__name__ == "LoadedFiles")
        stop = next(i for i, e in enumerate(mine) if isinstance(e, LifecycleMoved)
                    and e.trigger == "stop")
        assert last_file < stop
        # Any signal (it may still be exiting when its channel closes) comes after the files.
        signals = [i for i, e in enumerate(mine) if isinstance(e, ProcessEvent)
                   and e.action is ProcessAction.SIGNALLED]
        assert all(i > last_file for i in signals)
        assert root.lifecycle.state == "connected"  # the root is unaffected


@pytest.mark.parametrize("dialect", DIALECTS)
def test_lazy_file_after_the_result_is_recorded(dialect: str) -> None:
    with no_leaks() as roots, Master(fake_command(dialect), dialect) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        child = master.spawn(root, "lazy")
        assert child.ok
        assert master.wait_files(child, lambda files: len(files) == 3, timeout=2.0)
        assert child.loaded_files == fake_files("lazy")


# ---- faulty fake slaves: the master reports the step, stops the slave, carries on ---------

#: mode -> (error class, requirement in spec, requirement in zeus)
CHILD_FAULTS = {
    "lie_pid": (CredentialsMismatch, "PID-2", "PID-2"),
    "garbage": (MalformedMessage, "FRAME-1", "FRAME-1"),
    "wrong_fd": (BadDescriptor, "SOCKET-3", "SOCKET-4"),
    "two_fds": (BadDescriptor, "SOCKET-2", "SOCKET-2"),
    "silent": (StepTimeout, "SOCKET-2", "SOCKET-2"),
    "no_pid": (StepTimeout, "PID-1", "PID-1"),
    "no_result": (StepTimeout, "RESULT-6", "RESULT-6"),
    "exit_early": (StepTimeout, "SOCKET-2", "SOCKET-2"),  # a child's pid is unknown until then
    "double_p": (UnexpectedEvent, "PID-1", "CHAN-1"),  # zeus: the pipe must follow P
    "double_r": (UnexpectedEvent, "RESULT-1", "RESULT-1"),
    "flood": (FrameTooLarge, "FRAME-3", "FRAME-3"),
    "bad_path": (MalformedMessage, "FILES-1", "FILES-1"),
    "fd_on_channel": (UnexpectedEvent, "FRAME-1", "CHAN-1"),  # zeus: a second pipe
    "pipe_is_socket": (BadDescriptor, None, "CHAN-1"),
}


@pytest.mark.parametrize(("mode", "dialect"), [
    (mode, dialect) for mode in sorted(CHILD_FAULTS) for dialect in DIALECTS
    if CHILD_FAULTS[mode][1 if dialect == "spec" else 2] is not None])
def test_faulty_child_is_reported_and_the_master_carries_on(dialect: str, mode: str) -> None:
    error_class, spec_req, zeus_req = CHILD_FAULTS[mode]
    with no_leaks() as roots, Master(fake_command(dialect), dialect, step_timeout=STEP,
                                     kill_grace=0.2) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        started = time.monotonic()
        bad = master.spawn(root, mode)
        assert time.monotonic() - started < STEP + 1.0  # bounded by the step timeout
        master.wait_stopped(bad, timeout=2.0)  # some faults come after R
        assert bad.lifecycle.state == "stopped"
        assert bad.channel is None and bad.pipe is None and bad.process_fd is None
        assert len(bad.errors) == 1, bad.errors
        error = bad.errors[0]
        assert isinstance(error, error_class), error
        assert error.requirement == (zeus_req if dialect == "zeus" else spec_req)
        assert error.culprit is Role.SLAVE
        assert error.state  # says which step it was in
        if mode == "bad_path":  # the good paths before the bad one are kept
            assert bad.loaded_files[:2] == fake_files("bad_path")[:2]
        good = master.spawn(root, "ok")  # the master carries on with the others
        assert good.ok, good.errors
        assert root.ok and root.lifecycle.state == "connected"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_slave_that_ignores_sigterm_is_killed_after_the_grace(dialect: str) -> None:
    events: list[ObservedEvent] = []
    with no_leaks() as roots, Master(fake_command(dialect), dialect, step_timeout=STEP,
                                     kill_grace=0.3, observer=events.append) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        started = time.monotonic()
        bad = master.spawn(root, "stubborn")
        took = time.monotonic() - started
        assert [e.requirement for e in bad.errors] == ["RESULT-6"]
        assert bad.lifecycle.state == "stopped"
        signals = [e.detail for e in events if isinstance(e, ProcessEvent)
                   and e.action is ProcessAction.SIGNALLED and e.pid == bad.peer_pid]
        assert signals == ["SIGTERM", "SIGKILL"]
        assert STEP + 0.3 <= took < STEP + 0.3 + 1.0
        assert master.spawn(root, "ok").ok


def test_zeus_result_without_pipe_is_chan1() -> None:
    with no_leaks() as roots, Master(fake_command("zeus"), "zeus", step_timeout=STEP) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        bad = master.spawn(root, "no_pipe")
        assert [e.requirement for e in bad.errors] == ["CHAN-1"]
        assert master.spawn(root, "ok").ok


@pytest.mark.parametrize("dialect", DIALECTS)
def test_root_that_exits_early_is_reported_at_once(dialect: str) -> None:
    with no_leaks(), Master(fake_command(dialect, "exit_early"), dialect,
                            step_timeout=5.0) as master:
        started = time.monotonic()
        root = master.boot_root()
        assert time.monotonic() - started < 2.0  # the pidfd told us; no step timeout needed
        assert [type(e) for e in root.errors] == [ChannelClosed]
        assert root.errors[0].requirement == "SOCKET-2"
        assert root.lifecycle.state == "stopped" and root.exit_status == 3


@pytest.mark.parametrize(("mode", "error_class", "requirement"), [
    ("silent", StepTimeout, "SOCKET-2"),
    ("lie_pid", CredentialsMismatch, "PID-2"),
    ("garbage", MalformedMessage, "FRAME-1"),
])
def test_faulty_root(mode: str, error_class: type[ProtocolError], requirement: str) -> None:
    with no_leaks() as roots, Master(fake_command("zeus", mode), "zeus", step_timeout=STEP,
                                     kill_grace=0.2) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        assert [type(e) for e in root.errors] == [error_class]
        assert root.errors[0].requirement == requirement
        assert root.lifecycle.state == "stopped"
        assert root.exit_status == -15  # it hung; SIGTERM was enough


@pytest.mark.parametrize("dialect", DIALECTS)
def test_two_registrations_for_one_spawn(dialect: str) -> None:
    with no_leaks() as roots, Master(fake_command(dialect), dialect, step_timeout=2.0) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        child = master.spawn(root, "twin")
        assert child.ok
        # The twin registers a moment later; run the loop until it has been seen.
        assert master.run(lambda: bool(master.strays), timeout=2.0)
        [stray] = master.strays
        assert [e.requirement for e in stray.errors] == ["SPAWN-5"]
        assert stray.errors[0].culprit is Role.SLAVE
        assert stray.peer_pid not in (None, child.pid)
        assert master.errors == stray.errors


def test_spawn_from_a_slave_that_is_not_connected_is_the_masters_fault() -> None:
    with no_leaks(), Master(fake_command("spec", "fail"), "spec") as master:
        root = master.boot_root()
        assert root.result is not None and not root.result.ok
        with pytest.raises(UnexpectedEvent) as caught:
            master.spawn(root, "ok")
        assert caught.value.culprit is Role.MASTER
        assert caught.value.requirement == "SPAWN-1"
        assert len(master.sessions) == 1  # no child session was made


# ---- the Master's own contract -----------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_observer_sees_wire_bytes_and_transitions(dialect: str) -> None:
    events: list[ObservedEvent] = []
    with Master(fake_command(dialect), dialect, observer=events.append) as master:
        root = master.boot_root()
        child = master.spawn(root, "ok")
    stamps = [e.at for e in events]
    assert stamps == sorted(stamps)
    registration = next(e for e in events if isinstance(e, WireEvent)
                        and e.channel is Channel.MASTER)
    wanted = FdKind.UNIX_STREAM if dialect == "zeus" else FdKind.UNIX_DGRAM
    assert registration.fds == (wanted,) and registration.direction is Direction.RECEIVED
    sent = [e for e in events if isinstance(e, WireEvent) and e.direction is Direction.SENT]
    assert [e.data for e in sent] == [b"S:ok\0" if dialect == "zeus" else b"S:ok"]
    assert sent[0].session is not None and sent[0].session.pid == root.pid
    moves = [e.trigger for e in events if isinstance(e, HandshakeMoved)
             and e.session.session_id == child.session_id]
    assert moves[:2] == ["socket", "pid"] and "ok" in moves
    life = [(e.before, e.after) for e in events if isinstance(e, LifecycleMoved)
            and e.session.session_id == child.session_id]
    assert life == [("unbooted", "spawning"), ("spawning", "booting"),
                    ("booting", "connected"), ("connected", "stopped")]


def test_stopped_root_can_be_booted_again() -> None:
    with no_leaks() as roots, Master(fake_command("zeus"), "zeus") as master:
        first = master.boot_root()
        roots.append(first.pid or 0)
        old_pid = first.pid
        master.stop(first)
        assert first.lifecycle.state == "stopped" and first.exit_status == -15
        again = master.boot_root()
        roots.append(again.pid or 0)
        assert again is first and again.boots == 2
        assert again.ok and again.pid != old_pid
        with pytest.raises(UnexpectedEvent):
            master.boot_root()  # already running


def test_closed_master_refuses_work_and_close_is_idempotent() -> None:
    with no_leaks():
        master = Master(fake_command("spec"), "spec")
        master.boot_root()
        master.close()
        master.close()
        with pytest.raises(RuntimeError):
            master.boot_root()


def test_a_command_that_cannot_start_leaks_nothing() -> None:
    with no_leaks(), Master(["/nonexistent/zeus-slave"], "spec") as master, \
            pytest.raises(FileNotFoundError):
        master.boot_root()


def test_an_unbounded_wait_is_refused() -> None:
    with Master(fake_command("spec"), "spec") as master:
        master.boot_root()
        with pytest.raises(RuntimeError, match="nothing bounds"):
            master.run(lambda: False)


def test_uid_expectation_is_the_masters() -> None:
    with Master(fake_command("spec"), "spec") as master:
        root = master.boot_root()
        assert root.expect.uid == os.getuid() and root.expect.pid == root.pid


@pytest.mark.parametrize("dialect", ["spec", "zeus"])
def test_the_master_forgets_stopped_children_and_keeps_bounded_errors(
        dialect: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A master that runs for days: a stopped child leaves its tables (it once kept every
    session ever made, ~45 KiB each); errors and strays keep only the latest few."""
    import zeus_fsm.master.loop as loop

    monkeypatch.setattr(loop, "ERRORS_KEPT", 3)
    with no_leaks() as roots, Master(fake_command(dialect), dialect) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        for _ in range(5):
            child = master.spawn(root, "ok")
            assert child.ok
            master.stop(child)
            assert master.sessions == [root]
            bad = master.spawn(root, "garbage")  # a broken rule: recorded, then stopped
            assert bad.errors and bad.lifecycle.state == "stopped"
            assert bad not in master.sessions
        assert len(master.errors) == 3 and master.errors[-1] is bad.errors[0]
        assert child.loaded_files and child.result is not None  # the caller's reference
    assert master.sessions == [root]
