"""The Master against a catalogue of hostile slaves (tests/hostile/, see its README.md).

Each entry is one misbehaviour of a child slave. For each: the exact diagnostic
class and requirement, within the step timeout (plus a margin), every fd the
master received for it closed as soon as it is stopped, no process of it left,
and the same Master then serves a good child.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from fake_slaves.harness import no_leaks, open_fds, processes_in_session, wait_no_processes

from zeus_fsm.master.loop import Master, SlaveSession
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

HOSTILE = Path(__file__).parent / "hostile" / "slave.py"
STEP = 0.3  # step timeout: short, far above a real step on an idle machine
#: The root's boot is an interpreter starting, not what is under test: on a loaded
#: machine it can take more than STEP, so the root boots under this, then STEP applies.
BOOT_STEP = 10.0
GRACE = 0.2  # SIGTERM -> SIGKILL
MARGIN = 1.0  # scheduling slack on a loaded 2-core machine
DIALECTS = ("spec", "zeus")

Expected = tuple[type[ProtocolError], str] | None  # None: accepted, no error

#: behaviour -> (expected in spec, expected in zeus); "n/a": not meaningful in that dialect.
#: Kept in step with tests/hostile/README.md (a test checks that every row is listed there).
CATALOGUE: dict[str, tuple[Expected | str, Expected | str]] = {
    # On the master socket, instead of the slave's own socket.
    "garbage_on_master": ((BadDescriptor, "SOCKET-2"), (BadDescriptor, "SOCKET-2")),
    "no_fd": ((BadDescriptor, "SOCKET-2"), (BadDescriptor, "SOCKET-2")),
    "three_sockets": ((BadDescriptor, "SOCKET-2"), (BadDescriptor, "SOCKET-2")),
    "pipe_as_socket": ((BadDescriptor, "SOCKET-3"), (BadDescriptor, "SOCKET-4")),
    "file_as_socket": ((BadDescriptor, "SOCKET-3"), (BadDescriptor, "SOCKET-4")),
    "devnull_as_socket": ((BadDescriptor, "SOCKET-3"), (BadDescriptor, "SOCKET-4")),
    "wrong_socket_type": ((BadDescriptor, "SOCKET-3"), (BadDescriptor, "SOCKET-4")),
    "seqpacket_socket": ((BadDescriptor, "SOCKET-3"), (BadDescriptor, "SOCKET-4")),
    "inet_socket": ((BadDescriptor, "SOCKET-3"), (BadDescriptor, "SOCKET-4")),
    "master_socket_back": ((CredentialsMismatch, "PID-2"), (CredentialsMismatch, "PID-2")),
    "socket_made_by_parent": ((CredentialsMismatch, "PID-2"), (CredentialsMismatch, "PID-2")),
    "exits_with_signal_before_socket": ((StepTimeout, "SOCKET-2"), (StepTimeout, "SOCKET-2")),
    # Instead of P, or a bad P.
    "garbage_before_p": ((MalformedMessage, "FRAME-1"), (MalformedMessage, "FRAME-1")),
    "pid_negative": ((MalformedMessage, "FRAME-4"), (MalformedMessage, "FRAME-4")),
    "pid_zero": ((MalformedMessage, "FRAME-4"), (MalformedMessage, "FRAME-4")),
    "pid_huge": ((MalformedMessage, "FRAME-4"), (MalformedMessage, "FRAME-4")),
    "pid_over_max": ((MalformedMessage, "FRAME-4"), (MalformedMessage, "FRAME-4")),
    "pid_non_numeric": ((MalformedMessage, "FRAME-4"), (MalformedMessage, "FRAME-4")),
    "pid_empty": ((MalformedMessage, "FRAME-4"), (MalformedMessage, "FRAME-4")),
    "pid_not_peer": ((CredentialsMismatch, "PID-2"), (CredentialsMismatch, "PID-2")),
    # zeus: the NUL ends the frame, so P carries the identifier "ab": the wrong one.
    "identifier_nul": ((MalformedMessage, "FRAME-5"), (UnexpectedEvent, "PID-4")),
    "identifier_newline": ((MalformedMessage, "FRAME-5"), (MalformedMessage, "FRAME-5")),
    "identifier_not_utf8": ((MalformedMessage, "FRAME-5"), (MalformedMessage, "FRAME-5")),
    "identifier_wrong": ((UnexpectedEvent, "PID-3"), (UnexpectedEvent, "PID-4")),
    "oversize": ((FrameTooLarge, "FRAME-3"), (FrameTooLarge, "FRAME-3")),
    # spec: one 200,000-byte datagram; zeus: a frame that never gets its NUL.
    "unterminated": ((FrameTooLarge, "FRAME-3"), (FrameTooLarge, "FRAME-3")),
    "half_frame_then_close": ((MalformedMessage, "FRAME-1"), (MalformedMessage, "FRAME-2")),
    # spec: each byte is a datagram of its own; zeus: the deadline does not move per byte,
    # and a frame still without its NUL when it passes is FRAME-2 (as the checker says).
    "slow_loris": ((MalformedMessage, "FRAME-1"), (MalformedMessage, "FRAME-2")),
    "empty_message": ((MalformedMessage, "FRAME-1"), (StepTimeout, "PID-1")),
    "close_after_fd": ((ChannelClosed, "PID-1"), (ChannelClosed, "PID-1")),
    # spec: a datagram socket gives no EOF, so only the deadline ends the wait.
    "close_socket_and_linger": ((StepTimeout, "PID-1"), (ChannelClosed, "PID-1")),
    "r_before_p": ((UnexpectedEvent, "PID-1"), (UnexpectedEvent, "PID-1")),
    "two_p": ((UnexpectedEvent, "PID-1"), (UnexpectedEvent, "CHAN-1")),
    "f_before_p": ((UnexpectedEvent, "PID-1"), (MalformedMessage, "FILES-5")),
    "stops_itself": ((StepTimeout, "PID-1"), (StepTimeout, "PID-1")),
    "signal_after_p": ((ChannelClosed, "CRASH-3"), (ChannelClosed, "CHAN-1")),
    # The pipe (zeus) or an fd where none belongs (spec).
    "pipe_write_end": ((UnexpectedEvent, "FRAME-1"), (BadDescriptor, "CHAN-1")),
    "pipe_not_fifo": ((UnexpectedEvent, "FRAME-1"), (BadDescriptor, "CHAN-1")),
    # After P.
    "never_sends_r": ((StepTimeout, "RESULT-6"), (StepTimeout, "RESULT-6")),
    "ignores_sigterm": ((StepTimeout, "RESULT-6"), (StepTimeout, "RESULT-6")),
    "signal_before_r": ((ChannelClosed, "CRASH-3"), (ChannelClosed, "CRASH-3")),
    "relative_path": ((MalformedMessage, "FILES-1"), (MalformedMessage, "FILES-1")),
    # S is the master's message; the machine's tables would blame the master for it.
    "slave_sends_s": ((UnexpectedEvent, "FRAME-1"), (UnexpectedEvent, "FRAME-1")),
    "long_path_line": (None, (FrameTooLarge, "FILES-5")),  # spec sets no path length
    "unterminated_path_line": ("n/a", (MalformedMessage, "FILES-5")),
    # Accepted: kept as reported.
    "missing_path": (None, None),  # FILES-2 is a SHOULD the master does not check
    "non_utf8_path": (None, None),
}

#: The master cannot tell which process these are (no socket, or a socket it refuses to
#: trust): they are killed when the Master closes, as members of the root's process group.
UNKNOWN_UNTIL_CLOSE = frozenset({"garbage_on_master", "no_fd", "three_sockets",
                                 "pipe_as_socket", "file_as_socket", "devnull_as_socket",
                                 "wrong_socket_type", "seqpacket_socket", "inet_socket",
                                 "master_socket_back", "socket_made_by_parent"})

#: Its helper process is orphaned when the master kills the slave: init reaps it, later.
ORPHANED = frozenset({"socket_made_by_parent"})

#: What each accepted behaviour reports (tests/hostile/slave.py).
REPORTED = {
    "missing_path": [b"/nonexistent/hostile/missing.rb"],
    "non_utf8_path": [b"/hostile/caf\xe9/\xff\xfe.rb"],
    "long_path_line": [b"/" + b"a" * 5000],
}
#: The good paths a failing behaviour reported before its bad one: kept.
KEPT = {
    "relative_path": [b"/hostile/good.rb"],
    "unterminated_path_line": [b"/hostile/good.rb"],
    "never_sends_r": [b"/hostile/never_sends_r.rb"],
    "signal_before_r": [b"/hostile/signal_before_r.rb"],  # reported, then SIGSEGV
}


def hostile_command(dialect: str, root: str = "ok", *extra: str) -> list[str]:
    return [sys.executable, str(HOSTILE), dialect, root, *extra]


def others_in_group(root: SlaveSession, timeout: float = 1.0) -> list[str]:
    """Processes of the slaves' session other than the root, after at most `timeout`
    (a killed child is reaped by its parent slave a moment later)."""
    assert root.pid is not None
    end = time.monotonic() + timeout
    while True:
        left = [p for p in processes_in_session(root.pid) if not p.startswith(f"{root.pid} ")]
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.01)


CASES = [(name, dialect) for name, expected in CATALOGUE.items()
         for dialect, want in zip(DIALECTS, expected, strict=True) if want != "n/a"]


@pytest.mark.parametrize(("behaviour", "dialect"), CASES)
def test_hostile_child(behaviour: str, dialect: str) -> None:
    want = CATALOGUE[behaviour][DIALECTS.index(dialect)]
    assert not isinstance(want, str), f"{behaviour} does not apply to {dialect}"
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=BOOT_STEP,
                                     kill_grace=GRACE, drain_timeout=STEP) as master:
        root = master.boot_root()
        master.step_timeout = STEP
        if behaviour not in ORPHANED:
            roots.append(root.pid or 0)
        assert root.ok, root.errors
        fds_before = open_fds()
        started = time.monotonic()
        bad = master.spawn(root, behaviour)
        if want is not None:
            master.wait_stopped(bad, timeout=STEP + GRACE + MARGIN)
        else:
            master.wait_files(bad, lambda files: len(files) >= len(REPORTED[behaviour]),
                              timeout=MARGIN)
        took = time.monotonic() - started
        if want is None:
            assert bad.errors == [] and bad.ok
            assert bad.loaded_files == REPORTED[behaviour]  # bytes kept as sent
            master.stop(bad)
        else:
            error_class, requirement = want
            assert bad.errors, f"no diagnostic; state {bad.lifecycle.state}"
            first = bad.errors[0]  # a second one may come from the bytes drained at stop
            assert (type(first), first.requirement) == (error_class, requirement), first
            assert first.culprit is Role.SLAVE
            assert first.state  # which step
            assert str(first)  # a readable message that says it all
            assert bad.loaded_files == KEPT.get(behaviour, [])
            # Bounded: a step timeout, SIGTERM's grace and SIGKILL at most.
            assert took < STEP + GRACE + MARGIN, took
        assert bad.lifecycle.state == "stopped"
        assert bad.channel is None and bad.pipe is None and bad.process_fd is None
        assert open_fds() == fds_before, "an fd the master received for it is still open"
        if behaviour not in UNKNOWN_UNTIL_CLOSE:
            assert others_in_group(root) == []
        good = master.spawn(root, "ok")  # the same master carries on
        assert good.ok, good.errors
        assert root.ok and root.lifecycle.state == "connected"
    if behaviour in ORPHANED:  # killed at close; its zombie is init's to reap
        assert wait_no_processes(root.pid or 0, timeout=5.0) == []


@pytest.mark.parametrize("dialect", ["spec"])
def test_master_socket_sent_back_is_refused_and_the_master_signals_nobody(dialect: str) -> None:
    """A slave that sends the master's own socket as its socket: SO_PEERCRED names the
    master's process. Stopping that "slave" once made the master SIGTERM itself."""
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=BOOT_STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        master.step_timeout = STEP
        roots.append(root.pid or 0)
        bad = master.spawn(root, "master_socket_back")
        assert [type(e) for e in bad.errors] == [CredentialsMismatch]
        assert bad.errors[0].requirement == "PID-2" and bad.errors[0].culprit is Role.SLAVE
        assert str(os.getpid()) in bad.errors[0].reason
        assert bad.lifecycle.state == "stopped"
        assert master.spawn(root, "ok").ok  # and we are still alive to see it


def test_zeus_pipe_write_end_is_refused_not_read() -> None:
    """The write end of a pipe is a FIFO too; reading it raised EBADF out of the Master."""
    with no_leaks() as roots, Master(hostile_command("zeus"), "zeus", step_timeout=BOOT_STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        master.step_timeout = STEP
        roots.append(root.pid or 0)
        bad = master.spawn(root, "pipe_write_end")
        assert [(type(e), e.requirement) for e in bad.errors] == [(BadDescriptor, "CHAN-1")]
        assert "write end" in bad.errors[0].reason
        assert bad.lifecycle.state == "stopped"
        assert master.spawn(root, "ok").ok


# ---- behaviours that need more than one step -----------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
def test_flood_of_100000_paths_is_recorded_whole(dialect: str) -> None:
    """100,000 paths before R: every one recorded, in order, and the slave is connected."""
    count = 100_000
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=20.0,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        started = time.monotonic()
        flood = master.spawn(root, f"flood.{count}")
        assert master.wait_files(flood, lambda files: len(files) == count, timeout=20.0)
        took = time.monotonic() - started
        assert flood.ok, flood.errors
        assert flood.loaded_files == [b"/hostile/flood/%06d.rb" % n for n in range(count)]
        assert flood.duplicate_files == 0
        print(f"{dialect}: {count} paths recorded in {took:.2f} s")
        assert master.spawn(root, "ok").ok


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fork_storm_one_registration_counts_the_rest_are_strays_and_killed(dialect: str) -> None:
    storm = 20
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=BOOT_STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        master.step_timeout = STEP
        roots.append(root.pid or 0)
        child = master.spawn(root, f"fork_storm.{storm}")
        assert child.ok, child.errors  # the first registration answers the S
        started = time.monotonic()
        assert master.run(lambda: len(master.strays) == storm - 1, timeout=STEP + MARGIN)
        assert time.monotonic() - started < STEP + MARGIN
        for stray in master.strays:
            assert [(type(e), e.requirement, e.culprit) for e in stray.errors] == [
                (UnexpectedEvent, "SPAWN-5", Role.SLAVE)]
            assert stray.peer_pid not in (None, child.pid)
        # Every stray was stopped: only the root and the one accepted child are left.
        assert len(others_in_group(root)) == 1
        master.stop(child)
        assert others_in_group(root) == []
        assert master.spawn(root, "ok").ok


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_stray_during_a_pending_spawn_is_refused_and_the_spawn_completes(
        dialect: str) -> None:
    """A helper of one child registers while the next spawn is pending: its socket's maker
    is not a child of the slave that was sent S, so it is a stray (SPAWN-5), not that
    spawn's child (registrations were once matched in arrival order)."""
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=2.0,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        first = master.spawn(root, "late_stray.150")  # its helper registers 150 ms later
        assert first.ok, first.errors
        pending = master.spawn(root, "slow_ok.600")  # registers 600 ms after S
        assert pending.ok, pending.errors
        assert pending.peer_pid is not None and pending.identifier == "slow_ok.600"
        [stray] = master.strays
        assert [(type(e), e.requirement, e.culprit) for e in stray.errors] == [
            (UnexpectedEvent, "SPAWN-5", Role.SLAVE)]
        assert stray.peer_pid not in (None, first.pid, pending.pid)
        assert stray.registered_at is None and master.errors == stray.errors
        assert master.spawn(root, "ok").ok


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_slave_that_stops_reading_cannot_block_the_masters_send(dialect: str) -> None:
    """S piles up in the socket of a slave that never reads: once its buffer is full the
    send times out (bounded by the step timeout) and is reported; the master goes on."""
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=BOOT_STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        master.step_timeout = STEP
        roots.append(root.pid or 0)
        deaf = master.spawn(root, "stops_reading")
        assert deaf.ok, deaf.errors
        big = "x" * 60_000  # a large S fills the socket buffer in a few sends
        refused = None
        for _ in range(40):
            started = time.monotonic()
            child = master.spawn(deaf, big)
            assert time.monotonic() - started < STEP + MARGIN
            if any(e.requirement == "SPAWN-2" and isinstance(e, ChannelClosed)
                   for e in child.errors):
                refused = child
                break
            # Not blocked yet: the S was queued, and no child came (the slave never read it).
            assert [(type(e), e.requirement) for e in child.errors] == [
                (StepTimeout, "SOCKET-2")]
        assert refused is not None, "the send never blocked"
        assert "could not be sent" in refused.errors[0].reason
        assert refused.lifecycle.state == "stopped"
        if dialect == "zeus":  # its stream may hold part of an S: it is stopped too
            assert [(type(e), e.requirement) for e in deaf.errors] == [
                (ChannelClosed, "SPAWN-2")]
            assert deaf.lifecycle.state == "stopped" and deaf.channel is None
        else:  # a datagram is sent whole or not at all: the slave stays as it was
            assert deaf.errors == [] and deaf.lifecycle.state == "connected"
        assert master.spawn(root, "ok").ok


#: Root behaviours (first boot only) and their diagnostics, per dialect.
ROOT_CASES: dict[str, tuple[tuple[type[ProtocolError], str], tuple[type[ProtocolError], str]]] = {
    "exits_with_signal_before_socket": ((ChannelClosed, "SOCKET-2"), (ChannelClosed, "SOCKET-2")),
    "pid_not_peer": ((CredentialsMismatch, "PID-2"), (CredentialsMismatch, "PID-2")),
    "garbage_before_p": ((MalformedMessage, "FRAME-1"), (MalformedMessage, "FRAME-1")),
    "identifier_wrong": ((UnexpectedEvent, "PID-3"), (UnexpectedEvent, "PID-4")),
    "close_after_fd": ((ChannelClosed, "PID-1"), (ChannelClosed, "PID-1")),
    "signal_after_p": ((ChannelClosed, "CRASH-3"), (ChannelClosed, "CHAN-1")),
    "never_sends_r": ((StepTimeout, "RESULT-6"), (StepTimeout, "RESULT-6")),
    "three_sockets": ((BadDescriptor, "SOCKET-2"), (BadDescriptor, "SOCKET-2")),
}


@pytest.mark.parametrize(("behaviour", "dialect"),
                         [(b, d) for b in ROOT_CASES for d in DIALECTS])
def test_hostile_root_then_a_good_root_in_the_same_master(behaviour: str, dialect: str,
                                                           tmp_path: Path) -> None:
    error_class, requirement = ROOT_CASES[behaviour][DIALECTS.index(dialect)]
    once = tmp_path / "booted-once"
    with no_leaks() as roots, Master(hostile_command(dialect, behaviour, str(once)), dialect,
                                     step_timeout=STEP, kill_grace=GRACE) as master:
        fds_before = open_fds()
        started = time.monotonic()
        root = master.boot_root()
        roots.append(root.pid or 0)
        master.wait_stopped(root, timeout=STEP + GRACE + MARGIN)
        assert time.monotonic() - started < STEP + GRACE + MARGIN
        assert [(type(e), e.requirement) for e in root.errors[:1]] == [(error_class, requirement)]
        assert root.errors[0].culprit is Role.SLAVE
        assert root.lifecycle.state == "stopped" and root.exit_status is not None
        assert open_fds() == fds_before
        assert wait_no_processes(root.pid or 0) == []
        again = master.boot_root()  # the once-file makes the second root a good one
        roots.append(again.pid or 0)
        assert again.ok, again.errors
        assert master.spawn(again, "ok").ok


def test_readme_lists_every_behaviour_with_its_diagnostics() -> None:
    readme = (HOSTILE.parent / "README.md").read_text()
    rows = {line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[3:5]]
            for line in readme.splitlines() if line.startswith("| `")}
    for behaviour, expected in CATALOGUE.items():
        shown = [e if isinstance(e, str) else f"{e[0].__name__} {e[1]}" if e else "-"
                 for e in expected]
        assert rows.get(behaviour) == shown, behaviour
