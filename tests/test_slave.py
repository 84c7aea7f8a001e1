"""The reference slave as a real process, judged by a tiny master (tests/slave_harness.py).

Every exchange goes through a machine.Handshake on the harness side, so a slave
that broke a rule (wrong fd type, P pid not its SO_PEERCRED pid, files after the
channel closed...) fails these tests by raising, besides the explicit asserts.
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from slave_harness import TIMEOUT, Harness, alive, wait_gone

from zeus_fsm.examples.demo import EXPECTED_FILES, FAIL_MESSAGE
from zeus_fsm.protocol.dialects import DIALECT_NAMES
from zeus_fsm.protocol.messages import SpawnCommand, SpawnSlave
from zeus_fsm.transport import fds as transport


@pytest.fixture(params=DIALECT_NAMES)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    started = Harness(request.param)
    try:
        yield started
    finally:
        left = started.close()
        assert not left, f"slave processes left behind: {left}"


def assert_reported_once_and_absolute(files: list[bytes]) -> None:
    assert len(files) == len(set(files)), f"a path was reported twice: {files}"
    assert all(os.path.isabs(path) for path in files), files
    assert all(os.path.realpath(path) == path for path in files), "paths are not resolved"


def test_root_boots_and_reports_exactly_its_files(harness: Harness) -> None:
    root = harness.start()

    assert root.result is not None and root.result.ok
    assert root.pid == root.peer_pid == harness.process.pid
    root.wait_files(EXPECTED_FILES["boot"])
    assert_reported_once_and_absolute(root.files)
    own = {path for path in root.files if b"/zeus_fsm/examples/" in path}
    assert own == EXPECTED_FILES["boot"]


def test_child_ok_registers_with_its_parent_and_reports_only_its_own_files(
        harness: Harness) -> None:
    root = harness.start()
    child = harness.spawn(root, "child_ok")

    assert child.wait_result().ok
    assert child.pid == child.peer_pid != root.pid
    assert child.pid_message is not None
    if harness.dialect.has_parent_pid:
        assert child.pid_message.parent_pid == root.pid
    else:
        assert child.pid_message.parent_pid is None
    child.wait_files(EXPECTED_FILES["child_ok"])
    root.wait_files(EXPECTED_FILES["boot"])
    child.pump(0.1)  # anything more would arrive within a few reporter ticks
    assert_reported_once_and_absolute(child.files)
    own = {path for path in child.files if b"/zeus_fsm/examples/" in path}
    assert own == EXPECTED_FILES["child_ok"]


def test_child_fail_sends_a_traceback_then_its_files_then_closes(harness: Harness) -> None:
    root = harness.start()
    child = harness.spawn(root, "child_fail")

    result = child.wait_result()
    assert result.error is not None
    assert result.error.startswith("Traceback (most recent call last):\n")
    assert re.search(r'File ".*/zeus_fsm/examples/demo\.py", line \d+, in child_fail\n',
                     result.error)
    assert result.error.endswith(f"RuntimeError: {FAIL_MESSAGE}\n")
    child.wait_closed()  # the machine refuses files after the close: all came before
    assert set(child.files) == EXPECTED_FILES["child_fail"]
    assert_reported_once_and_absolute(child.files)
    # The root reaped it (no zombie) and still serves.
    assert wait_gone([child.pid]) == []
    assert alive(root.pid)
    assert harness.spawn(root, "child_ok").wait_result().ok


def test_child_lazy_reports_a_file_loaded_after_its_result(harness: Harness) -> None:
    root = harness.start()
    child = harness.spawn(root, "child_lazy")

    assert child.wait_result().ok
    child.wait_files(EXPECTED_FILES["child_lazy"])
    assert child.files_at_result is not None
    late = child.files[child.files_at_result:]
    assert set(EXPECTED_FILES["child_lazy"]) <= set(late), "lazy file came before R"
    assert_reported_once_and_absolute(child.files)


def test_unknown_identifier_is_an_error_result_not_a_hang(harness: Harness) -> None:
    root = harness.start()
    child = harness.spawn(root, "no_such_action")

    result = child.wait_result()
    assert result.error is not None
    assert "LookupError: plan DemoPlan has no action 'no_such_action'" in result.error
    child.wait_closed()
    assert wait_gone([child.pid]) == []


def test_two_spawns_in_one_write_both_spawn(harness: Harness) -> None:
    root = harness.start()
    first = harness.dialect.encode(SpawnSlave("child_ok"))
    second = harness.dialect.encode(SpawnSlave("child_lazy"))
    if harness.dialect.name == "zeus":
        root.send(first + second)  # SPAWN-3: one read, two frames
    else:
        root.send(first)  # spec: a datagram is one message; send them back to back
        root.send(second)

    children = [harness.accept(harness.child_expectation(root, None)) for _ in range(2)]

    assert {c.pid_message.identifier for c in children if c.pid_message} == {
        "child_ok", "child_lazy"}
    assert all(c.wait_result().ok for c in children)
    assert len({c.pid for c in children}) == 2


def test_spec_command_is_refused_in_the_log_and_the_slave_keeps_serving() -> None:
    """spec has no wire for C (SPAWN-4); zeus runs it: tests/test_slave_commands.py."""
    harness = Harness("spec")
    try:
        _refuses_command(harness)
    finally:
        assert harness.close() == []


def _refuses_command(harness: Harness) -> None:
    root = harness.start()
    root.send_message(SpawnCommand("console"))

    child = harness.spawn(root, "child_ok")

    assert child.wait_result().ok
    refusals = [line for line in harness.stderr_text().splitlines() if "C:console" in line]
    assert len(refusals) == 1 and "refusing" in refusals[0], harness.stderr_text()


def test_zeus_root_exits_zero_when_the_master_closes_its_socket() -> None:
    harness = Harness("zeus")
    try:
        root = harness.start()
        root.sock.close()
        assert harness.process.wait(TIMEOUT) == 0
    finally:
        assert harness.close() == []


_MANY_FILES_PLAN = """
import os

class Plan:
    def boot(self):
        folder = os.environ["MANY_FILES_DIR"]
        for index in range(COUNT):
            path = os.path.join(folder, f"loaded_file_number_{index:05d}.txt")
            with open(path, "w") as file:
                file.write("x")
            with open(path) as file:  # opened for reading: a loaded file
                file.read()

    def child(self):
        pass
"""
MANY_FILES = 1500  # ~100 KB of paths: more than a pipe (64 KiB) or a datagram queue holds


def test_unread_loaded_files_never_stop_the_slave_from_serving_s(
        dialect_name: str, tmp_path: Path) -> None:
    (tmp_path / "many_files_plan.py").write_text(
        _MANY_FILES_PLAN.replace("COUNT", str(MANY_FILES)))
    folder = tmp_path / "data"
    folder.mkdir()
    harness = Harness(dialect_name, plan="many_files_plan:Plan",
                      env={"PYTHONPATH": str(tmp_path), "MANY_FILES_DIR": str(folder)})
    try:
        root = harness.start()  # reads up to R only: nobody reads the root's files now
        if root.pipe is not None:  # zeus: wait until the reporter has filled the pipe
            deadline = time.monotonic() + TIMEOUT
            while pipe_bytes(root.pipe) < 60_000 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert pipe_bytes(root.pipe) >= 60_000, "the pipe never filled up"
        else:  # spec: once sending began, ~280 datagrams fill the send buffer in ms
            assert transport.wait_readable([root.sock.fileno()], TIMEOUT), "no F at all"
            time.sleep(0.1)

        started = time.monotonic()
        child = harness.spawn(root, "child")

        assert child.wait_result().ok
        # Well under REPORT_TIMEOUT: S did not wait for a blocked send to give up.
        assert time.monotonic() - started < 0.6, "S waited for the blocked reporter"
        expected = {os.fsencode(os.path.realpath(folder / f"loaded_file_number_{i:05d}.txt"))
                    for i in range(MANY_FILES)}
        root.wait_files(expected)  # nothing was lost while the channel was full
        assert_reported_once_and_absolute(root.files)
    finally:
        assert harness.close() == []


def pipe_bytes(fd: int) -> int:
    """How many bytes wait unread in a pipe (FIONREAD)."""
    count: int = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]
    return count


@pytest.fixture(params=DIALECT_NAMES)
def dialect_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


_ODD_NAME_PLAN = """
import os

class Plan:
    def boot(self):
        with open(os.fsencode(os.environ["ODD_DIR"]) + b"/caf\\xe9 data.txt", "rb") as file:
            file.read()
"""


def test_a_path_that_is_not_utf8_reaches_the_master_byte_for_byte(
        dialect_name: str, tmp_path: Path) -> None:
    (tmp_path / "odd_name_plan.py").write_text(_ODD_NAME_PLAN)
    folder = tmp_path / "odd"
    folder.mkdir()
    odd = os.fsencode(os.path.realpath(folder)) + b"/caf\xe9 data.txt"
    with open(odd, "wb") as file:
        file.write(b"x")
    harness = Harness(dialect_name, plan="odd_name_plan:Plan",
                      env={"PYTHONPATH": str(tmp_path), "ODD_DIR": str(folder)})
    try:
        root = harness.start()
        assert root.result is not None and root.result.ok
        root.wait_files({odd})
    finally:
        assert harness.close() == []


def test_dialect_comes_from_the_environment_without_the_flag() -> None:
    harness = Harness("zeus", env={"ZEUS_FSM_DIALECT": "zeus"}, dialect_flag=False)
    try:
        root = harness.start()  # the harness's zeus machine refuses a spec slave's socket
        assert root.result is not None and root.result.ok
        assert root.pipe is not None
    finally:
        assert harness.close() == []


@pytest.mark.parametrize(("args", "env", "says"), [
    (["--plan", "no_colon"], {}, "is not MODULE:CLASS"),
    ([], {"ZEUS_FSM_DIALECT": "ruby"}, "unknown dialect 'ruby'"),
    (["--dialect", "ruby"], {}, "unknown dialect 'ruby'"),
])
def test_bad_arguments_exit_2_with_a_usage_error(args: list[str], env: dict[str, str],
                                                 says: str) -> None:
    run = subprocess.run([sys.executable, "-m", "zeus_fsm.slave", *args],
                         env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=TIMEOUT, check=False)
    assert run.returncode == 2
    assert says in run.stderr, run.stderr


# ---- bad ZEUS_MASTER_FD: exit 2 with one line that says which --------------------------


def _run_slave(env_fd: str | None,
               pass_fds: tuple[int, ...] = ()) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "ZEUS_MASTER_FD"}
    if env_fd is not None:
        env["ZEUS_MASTER_FD"] = env_fd
    return subprocess.run([sys.executable, "-m", "zeus_fsm.slave"], env=env, pass_fds=pass_fds,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)


@pytest.mark.parametrize(("value", "says"), [
    (None, "ZEUS_MASTER_FD is not set"),
    ("seven", "ZEUS_MASTER_FD='seven' is not a number"),
    ("987", "ZEUS_MASTER_FD=987 is not an open file descriptor"),
])
def test_bad_master_fd_exits_nonzero_with_one_line(value: str | None, says: str) -> None:
    run = _run_slave(value)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and says in run.stderr, run.stderr


def test_master_fd_that_is_not_a_socket_exits_nonzero_with_one_line() -> None:
    read_end, write_end = os.pipe()
    try:
        run = _run_slave(str(read_end), pass_fds=(read_end,))
    finally:
        os.close(read_end)
        os.close(write_end)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1, run.stderr
    assert f"ZEUS_MASTER_FD={read_end} is a pipe (FIFO), not an AF_UNIX socket" in run.stderr


def test_master_fd_that_is_a_tcp_socket_is_refused() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        run = _run_slave(str(tcp.fileno()), pass_fds=(tcp.fileno(),))
    assert run.returncode == 2
    assert "not an AF_UNIX socket" in run.stderr and run.stderr.count("\n") == 1


# ---- start-up stays light -------------------------------------------------------------

HEAVY = re.compile(r"^(click|hypothesis|graphviz|pytest|asyncio|zeus_fsm\.(cli|diagrams\w*|"
                   r"conformance|master\w*|export|observe|lifecycle|slave\.runner|"
                   r"transport\.commands|examples\.zcheck)|transitions\.extensions\."
                   r"(diagrams\w*|asyncio|factory|locking))(\.|$)")


def test_slave_start_up_imports_no_cli_diagram_or_test_machinery() -> None:
    """The slave's whole start-up (it imports everything before reading its env)."""
    env = {k: v for k, v in os.environ.items() if k != "ZEUS_MASTER_FD"}
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "zeus_fsm.slave"],
                         env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    modules = [line.split("|")[-1].strip() for line in run.stderr.splitlines()
               if line.startswith("import time:") and "|" in line]
    assert "zeus_fsm.protocol.machine" in modules, run.stderr
    assert "zeus_fsm.slave.tracking" in modules, run.stderr
    heavy = [name for name in modules if HEAVY.match(name)]
    assert heavy == [], f"the slave's start-up imports {heavy}"


_SHORT_LIVED_MASTER = """
import os, subprocess, sys
from zeus_fsm.transport import fds as transport
ours, theirs = transport.master_socketpair()
slave = subprocess.Popen([sys.executable, "-m", "zeus_fsm.slave", "--dialect", "spec"],
                         pass_fds=(theirs.fileno(),),
                         env={**os.environ, "ZEUS_MASTER_FD": str(theirs.fileno())})
sock = transport.adopt_socket(transport.receive(ours, 10).keep(0))
while not transport.receive(sock, 10).data.startswith(b"R:"):
    pass
print(slave.pid, flush=True)
os._exit(0)  # gone without a word: the datagram socket gives the slave no EOF
"""


def test_spec_slave_exits_when_its_master_process_exits() -> None:
    master = subprocess.Popen([sys.executable, "-c", _SHORT_LIVED_MASTER],
                              stdout=subprocess.PIPE, text=True)
    slave_pid = None
    try:
        assert master.stdout is not None
        slave_pid = int(master.stdout.readline())
        assert master.wait(TIMEOUT) == 0
        left = wait_gone([slave_pid], timeout=TIMEOUT)
        assert left == [], "the spec slave outlived its master"
    finally:
        master.kill()
        master.wait(TIMEOUT)
        if slave_pid is not None and alive(slave_pid):
            os.kill(slave_pid, signal.SIGKILL)
        if master.stdout is not None:
            master.stdout.close()
