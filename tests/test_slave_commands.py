"""The reference slave's command path (zeus), judged by the harness playing master and client.

Every exchange goes through the harness's Handshake and Command machines, so a slave
that broke a rule of handshake.md section 9 (a runner socket of the wrong type, a P
with the runner's pid, a status before P, a runner that ends without a status...)
fails by raising, besides the explicit asserts.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slave_harness import TIMEOUT, Harness, Peer, wait_gone

from zeus_fsm.protocol.dialects import ZEUS_DIALECT
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.events import FdKind, PipePassed, SocketPassed
from zeus_fsm.protocol.messages import ActionResult, PidIdentifier, SpawnCommand
from zeus_fsm.slave.reference import Slave, World
from zeus_fsm.transport import fds as transport
from zeus_fsm.transport.drain import read_to_eof

PLAN = """
import sys

class Plan:
    def boot(self):
        pass

    def child(self):
        pass

    def boom(self):
        print("partial output", flush=True)
        raise ValueError("boom on purpose")

    def interrupted(self):
        raise KeyboardInterrupt

    def says_bye(self):
        sys.exit("bye")

    def returns(self):
        return int(sys.argv[1])

    def prints_unicode(self):
        print(*sys.argv[1:])

    def reads(self):
        print(len(sys.stdin.buffer.read()))
"""


@pytest.fixture(scope="module")
def zeus() -> Iterator[tuple[Harness, Peer]]:
    """One zeus reference slave (demo plan) for the commands that leave it as it was."""
    harness = Harness("zeus")
    try:
        yield harness, harness.start()
    finally:
        assert harness.close() == [], "slave processes left behind"


@pytest.fixture
def root(zeus: tuple[Harness, Peer]) -> Peer:
    return zeus[1]


@pytest.fixture
def planned(tmp_path: Path) -> Iterator[tuple[Harness, Peer]]:
    (tmp_path / "command_plan.py").write_text(PLAN)
    harness = Harness("zeus", plan="command_plan:Plan", env={"PYTHONPATH": str(tmp_path)})
    try:
        yield harness, harness.start()
    finally:
        assert harness.close() == [], "slave processes left behind"


# ---- what reaches the command, what comes back -------------------------------------------


def test_hello_relays_arguments_output_and_status(root: Peer) -> None:
    run = root.run_command("hello", [b"a", b"b"])
    assert (run.stdout, run.stderr, run.status) == (b"hello a b\n", b"", 2)
    assert run.machine.state == "exited"


def test_the_command_is_a_process_of_its_own_below_the_runner(root: Peer) -> None:
    run = root.run_command("zcheck", [b"ids"])
    pid, ppid, pgid, sid = map(int, run.stdout.split())
    assert pid == run.pid  # P names the process that runs the command (CMD-5)
    assert ppid == run.runner_pid  # the runner is the SO_PEERCRED pid of its socket
    assert sid == run.runner_pid  # the runner called setsid()
    assert pgid == run.pid  # its own group: the runner kills it with its children
    assert run.pid not in (root.pid, run.runner_pid)
    assert wait_gone([run.pid, run.runner_pid]) == [], "runner or command left behind"


@pytest.mark.parametrize("args", [
    [], [b"one"], [b"a", b"b c", b"", b"d"], [b"trailing", b""], [b""], [b"", b""],
    [b"caf\xe9", b"\xff\xfe"], [b"-", b"--", b"*", b"$HOME", b"a\nb"],
], ids=["none", "one", "spaces-and-empty", "trailing-empty", "only-empty", "two-empty",
        "not-utf8", "shell-ish"])
def test_arguments_arrive_exactly(root: Peer, args: list[bytes]) -> None:
    run = root.run_command("zcheck", [b"argv", *args])
    assert run.stdout == b"".join(arg + b"\0" for arg in args)
    assert (run.stderr, run.status) == (b"", 0)


def test_stderr_is_the_second_fd_and_stdin_the_first(root: Peer) -> None:
    run = root.run_command("zcheck", [b"stderr", b"to stderr\nno newline"])
    assert (run.stdout, run.stderr, run.status) == (b"", b"to stderr\nno newline", 0)
    data = bytes(range(256)) * 300  # more than a socket buffer: both ways at once
    run = root.run_command("zcheck", [b"cat"], stdin=data)
    assert (run.stdout, run.status) == (data, 0)


@pytest.mark.parametrize("code", [0, 3, 255])
def test_exit_status_is_relayed_exactly(root: Peer, code: int) -> None:
    assert root.run_command("zcheck", [b"exit", str(code).encode()]).status == code


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_death_by_signal_n_is_128_plus_n(root: Peer, signum: int) -> None:
    run = root.run_command("zcheck", [b"kill", str(int(signum)).encode()])
    assert run.status == 128 + signum  # the Ruby runner reports 0


def test_unknown_command_ends_with_127_and_one_line(root: Peer) -> None:
    run = root.run_command("no_such_command")
    assert run.status == 127
    assert run.stderr == b"zeus_fsm.slave: plan DemoPlan has no command 'no_such_command'\n"


def test_zcheck_usage_errors_give_2(root: Peer) -> None:
    run = root.run_command("zcheck", [b"exit", b"256"])
    assert run.status == 2 and run.stderr.startswith(b"zcheck: ")
    run = root.run_command("zcheck", [b"bogus"])
    assert (run.status, run.stderr) == (2, b"zcheck: unknown behaviour b'bogus'\n")


# ---- the plan's own exits ----------------------------------------------------------------


def test_uncaught_error_prints_its_traceback_and_gives_1(
        planned: tuple[Harness, Peer]) -> None:
    run = planned[1].run_command("boom")
    assert run.status == 1
    assert run.stdout == b"partial output\n"
    text = run.stderr.decode()
    assert text.startswith("Traceback (most recent call last):\n"), text
    assert 'command_plan.py", line' in text and "in boom" in text
    assert "runner.py" not in text  # the traceback starts in the plan
    assert text.endswith("ValueError: boom on purpose\n")


def test_python_exit_rules(planned: tuple[Harness, Peer]) -> None:
    root = planned[1]
    interrupted = root.run_command("interrupted")
    assert interrupted.status == 128 + signal.SIGINT
    assert b"KeyboardInterrupt" in interrupted.stderr
    assert root.run_command("says_bye").stderr == b"bye\n"
    assert root.run_command("says_bye").status == 1
    assert root.run_command("returns", [b"7"]).status == 7
    assert root.run_command("returns", [b"300"]).status == 300 & 0xFF


def test_non_utf8_arguments_print_back_as_their_bytes(planned: tuple[Harness, Peer]) -> None:
    run = planned[1].run_command("prints_unicode", [b"caf\xe9", "d\u00e9j\u00e0".encode()])
    assert run.stdout == b"caf\xe9 d\xc3\xa9j\xc3\xa0\n"


# ---- the slave goes on serving ------------------------------------------------------------


def test_slave_serves_s_and_c_while_a_command_runs(planned: tuple[Harness, Peer]) -> None:
    harness, root = planned
    started = time.monotonic()
    reading = root.launch("reads", [], stdin=None)  # runs until its stdin ends
    printing = root.launch("prints_unicode", [b"x"])
    child = harness.spawn(root, "child")  # S while two commands are out (CMD-10)
    assert child.wait_result().ok
    assert root.run_command("returns", [b"5"]).status == 5  # and another C
    assert root.finish(printing).stdout == b"x\n"
    reading.stdout.sendall(b"12345")
    reading.stdout.shutdown(socket.SHUT_WR)
    run = root.finish(reading)
    assert (run.stdout, run.status) == (b"5\n", 0)
    assert time.monotonic() - started < TIMEOUT


def test_a_long_command_does_not_hold_up_others(root: Peer) -> None:
    sleeping = root.launch("zcheck", [b"sleep", b"1.5"])
    started = time.monotonic()
    assert root.run_command("zcheck", [b"exit", b"4"]).status == 4
    assert time.monotonic() - started < 1.0, "the second command waited for the first"
    comm = Path(f"/proc/{sleeping.runner_pid}/comm").read_text()
    assert comm == "zeus-run zcheck\n"  # what ps shows: a runner among the slaves
    assert root.finish(sleeping).status == 0


def test_commands_back_to_back_leave_the_slave_no_process_or_fd(root: Peer) -> None:
    slave_fds = f"/proc/{root.pid}/fd"
    root.run_command("zcheck", [b"exit", b"0"])  # the runner module is imported from now on
    before = sorted(os.listdir(slave_fds))
    pids: list[int] = []
    for index in range(20):
        run = root.run_command("zcheck", [b"exit", str(index).encode()])
        assert run.status == index
        pids += [run.pid, run.runner_pid]
    assert wait_gone(pids) == [], "runners or commands left behind (or unreaped)"
    deadline = time.monotonic() + 2  # the last runner's notice pipe closes on its next wake
    while sorted(os.listdir(slave_fds)) != before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sorted(os.listdir(slave_fds)) == before


# ---- the client vanishes (CMD-9) -----------------------------------------------------------


def test_the_command_is_killed_when_the_client_disappears(root: Peer) -> None:
    client = subprocess.Popen(["sleep", "60"])
    try:
        launched = root.launch("zcheck", [b"sleep", b"30"], client_pid=client.pid)
        time.sleep(0.2)
        client.kill()
        client.wait(TIMEOUT)
        started = time.monotonic()
        run = root.finish(launched)
        assert time.monotonic() - started < 1.5  # checked every 0.25 s, at least once a second
        assert run.status == 128 + signal.SIGKILL  # a status still comes: nobody hangs
        assert wait_gone([run.pid, run.runner_pid]) == []
    finally:
        client.kill()
        client.wait(TIMEOUT)


def test_a_term_for_the_runner_ends_its_command_and_the_status_still_comes(root: Peer) -> None:
    launched = root.launch("zcheck", [b"sleep", b"30"])
    # The command's P is on the runner socket (left there for finish() to read): it runs.
    # A TERM before that could end it unregistered, which is another test's story.
    assert transport.wait_readable([launched.runner.fileno()], TIMEOUT), "no P came"
    deadline = time.monotonic() + TIMEOUT
    while not _catches(launched.runner_pid, signal.SIGTERM):
        assert time.monotonic() < deadline, "the runner never took SIGTERM"
        time.sleep(0.01)
    os.kill(launched.runner_pid, signal.SIGTERM)
    run = root.finish(launched)
    assert run.status == 128 + signal.SIGTERM
    assert wait_gone([run.pid, run.runner_pid]) == []


def _catches(pid: int, signum: int) -> bool:
    """Whether a process has a handler for a signal (SigCgt in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


# ---- a master that breaks the rules -----------------------------------------------------------


def test_argc_mismatch_is_the_masters_fault_and_the_client_is_left_alone(
        planned: tuple[Harness, Peer]) -> None:
    harness, root = planned
    client = subprocess.Popen(["sleep", "60"])
    try:
        launched = root.launch("returns", [b"a", b""], argc=3, client_pid=client.pid)
        told = read_to_eof(launched.stderr.fileno(), TIMEOUT, 65_536)  # the runner's copy ends
        assert told.startswith(b"zeus_fsm runner: command 'returns': MalformedMessage: master "
                               b"broke CMD-4"), told
        with pytest.raises(ProtocolError) as caught:
            root.finish(launched)
        # No P: the runner refused the arguments and ended (the master sees CMD-8).
        assert caught.value.requirement == "CMD-8"
        assert wait_gone([launched.runner_pid]) == []
        assert client.poll() is None, "the runner signalled the client"
        log = harness.stderr_text()
        assert "master broke CMD-4" in log and "argc 3" in log, log
        assert root.run_command("returns", [b"6"]).status == 6  # the slave goes on
    finally:
        client.kill()
        client.wait(TIMEOUT)


# ---- the slave's side of a runner that never answers (in-process) ----------------------------


def _connected_slave_after_c() -> tuple[Slave, socket.socket]:
    """A zeus reference Slave object whose handshake is connected and has sent C."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    slave = Slave(World(ZEUS_DIALECT, theirs, "x:Y", None), "boot", 0)
    me = os.getpid()
    for event in (SocketPassed((FdKind.UNIX_STREAM,), peer_pid=me, peer_uid=os.getuid()),
                  PidIdentifier(me, "boot", 0), PipePassed((FdKind.FIFO,)), ActionResult(),
                  SpawnCommand("hello")):
        slave.feed(event)
    theirs.close()
    return slave, ours


def test_slave_takes_its_runners_notice_then_the_next_c() -> None:
    slave, master = _connected_slave_after_c()
    read_end, write_end = os.pipe()
    os.set_blocking(read_end, False)
    with master:
        slave.runner_notice = (os.getpid(), read_end)
        slave.settle_runner(0)
        assert slave.handshake.phase == "command"
        os.write(write_end, b"s")
        slave.settle_runner(0)
        assert slave.handshake.phase == "connected"
        assert slave.runner_notice is None
    os.close(write_end)


def test_slave_closes_when_its_runner_ends_before_its_socket() -> None:
    slave, master = _connected_slave_after_c()
    read_end, write_end = os.pipe()
    os.close(write_end)  # the runner is gone without a word
    with master:
        slave.runner_notice = (os.getpid(), read_end)
        with pytest.raises(ProtocolError) as caught:
            slave.settle_runner(0)
    assert (caught.value.requirement, caught.value.culprit.value) == ("CMD-2", "slave")
    assert "before the runner socket arrived" in caught.value.reason


def test_slave_kills_a_runner_stuck_before_its_socket() -> None:
    slave, master = _connected_slave_after_c()
    stuck = subprocess.Popen(["sleep", "60"])
    read_end, write_end = os.pipe()
    try:
        with master:
            slave.runner_notice = (stuck.pid, read_end)
            slave.children.add(stuck.pid)  # as start_command records its runner
            started = time.monotonic()
            with pytest.raises(ProtocolError) as caught:
                slave.settle_runner(0.1)
            assert time.monotonic() - started < 2
        assert caught.value.requirement == "CMD-2"
        assert "within 0.1 s" in str(caught.value)
        assert stuck.wait(TIMEOUT) == -signal.SIGKILL
    finally:
        stuck.kill()
        stuck.wait(TIMEOUT)
        os.close(write_end)
