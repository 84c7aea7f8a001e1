"""`zeus-fsm run` against `zeus-fsm start`, end to end: real processes, real sockets."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from start_harness import WAIT, Event, Start, leftovers

from zeus_fsm.transport.processes import process_exists

PLAN = textwrap.dedent('''
    import sys, time
    from zeus_fsm.examples.zcheck import main as zcheck_main

    class Plan:
        def boot(self):
            pass

        def child_ok(self):
            pass

        def child_fail(self):
            raise RuntimeError("this slave fails on purpose")

        def zcheck(self):
            return zcheck_main()

        def oops(self):
            pass
''')

CONFIG = {
    "command": ["{python}", "-m", "zeus_fsm.slave", "--plan", "cplan:Plan"],
    "plan": {"boot": {"child_ok": {"zcheck": ["zc"]}, "child_fail": {"oops": None}}},
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Start]:
    (tmp_path / "cplan.py").write_text(PLAN, encoding="utf-8")
    (tmp_path / "zeus.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    running = Start(tmp_path / "zeus.json", "zeus")
    try:
        running.settled(lambda rows: rows["child_ok"]["state"] == "connected"
                        and rows["child_fail"]["status"] == "crashed", "the tree settled")
        yield running
    finally:
        if running.process.poll() is None:
            assert running.stop() == 0
        assert leftovers(running.pids, running.root_pid) == []
        assert not running.socket.exists()  # removed at exit


def run(start: Start, *args: bytes, stdin: bytes = b"",
        timeout: float = WAIT) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "zeus_fsm", "run", *args], input=stdin,
                          capture_output=True, timeout=timeout, check=False,
                          env={**os.environ, "ZEUSSOCK": str(start.socket)})


def notes(start: Start, state: str) -> Event:
    return start.wait_for(lambda e: e["event"] in ("command", "client")
                          and e.get("state") == state, f"a {state!r} line")


def test_arguments_stdin_and_statuses_are_the_commands(served: Start) -> None:
    done = run(served, b"zcheck", b"argv", b"a", b"", b"b c", b"\xff", b"")
    assert (done.returncode, done.stdout) == (0, b"a\0\0b c\0\xff\0\0"), done.stderr
    done = run(served, b"zc", b"cat", stdin=b"line1\nline2\0bin\xff")  # an alias; stdin to EOF
    assert done.stdout == b"line1\nline2\0bin\xff"
    assert run(served, b"zcheck", b"exit", b"0").returncode == 0
    assert run(served, b"zcheck", b"exit", b"3").returncode == 3
    assert run(served, b"zcheck", b"kill", b"15").returncode == 128 + signal.SIGTERM
    done = run(served, b"zcheck", b"stderr", b"to stderr")
    assert (done.stdout, done.stderr) == (b"", b"to stderr")
    started = notes(served, "exited")
    assert started["node"] == "child_ok"


def test_a_crashed_slave_answers_at_once_with_its_error(served: Start) -> None:
    began = time.monotonic()
    done = run(served, b"oops")
    assert time.monotonic() - began < WAIT / 2
    assert done.returncode == 1
    assert b"this slave fails on purpose" in done.stdout
    assert b"did not run: its slave has crashed" in done.stderr
    notes(served, "crashed")


def test_an_unknown_command_is_a_clear_error(served: Start) -> None:
    done = run(served, b"nosuch")
    assert done.returncode == 127
    assert done.stderr.startswith(b"zeus-fsm run: the master at ")
    assert b"no command 'nosuch'" in done.stderr
    notes(served, "unknown")


def test_no_master_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "zeus_fsm", "run", "x"], capture_output=True,
                          timeout=WAIT, check=False,
                          env={**os.environ, "ZEUSSOCK": str(tmp_path / "none.sock")})
    assert done.returncode == 1
    assert done.stderr.startswith(b"zeus-fsm run: no master is running")


def test_a_killed_client_ends_its_command_and_the_master_goes_on(served: Start) -> None:
    client = subprocess.Popen([sys.executable, "-m", "zeus_fsm", "run", "zcheck", "sleep", "60"],
                              env={**os.environ, "ZEUSSOCK": str(served.socket)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = notes(served, "running")["pid"]
    client.kill()
    client.wait(WAIT)
    notes(served, "client gone")
    end = time.monotonic() + WAIT
    while process_exists(pid) and time.monotonic() < end:
        time.sleep(0.02)
    assert not process_exists(pid), "the command outlived its client"
    assert run(served, b"zcheck", b"exit", b"4").returncode == 4


def test_twenty_clients_at_once(served: Start) -> None:
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda n: run(served, b"zcheck", b"exit", str(n).encode()),
                                range(20)))
    assert [r.returncode for r in results] == list(range(20))


def test_the_socket_is_the_users_alone(served: Start) -> None:
    assert stat.S_IMODE(served.socket.stat().st_mode) == 0o600
    other = subprocess.run(  # another user, as the credentials tests do it
        [sys.executable, "-c", textwrap.dedent(f'''
            import os, socket, sys
            fd = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = {str(served.socket)!r}
            # Still root: open every door the file system has (the folder, the 0600
            # file), so that only the master's own check can refuse; then be nobody.
            os.chdir(os.path.dirname(path))
            os.chmod(".", 0o711)
            os.chmod(path, 0o666)
            os.setgid(65534); os.setuid(65534)
            fd.connect(os.path.basename(path))
            fd.settimeout(5)
            try:  # closed, unread: an end of file, a reset, or a pipe closed under T
                fd.sendall(b"T:0:%d:zcheck\\0" % os.getpid())
                sys.exit(0 if fd.recv(100) == b"" else 1)
            except (ConnectionResetError, BrokenPipeError):
                sys.exit(0)
        ''')], timeout=WAIT, check=False, capture_output=True)
    if os.getuid() != 0:
        pytest.skip("changing uid needs root")
    assert other.returncode == 0, other.stderr
    refused = notes(served, "refused")
    assert refused["uid"] == 65534
    assert run(served, b"zcheck", b"exit", b"2").returncode == 2


def test_malformed_requests_and_vanishing_clients_cost_only_their_connection(
        served: Start) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bad:
        bad.connect(str(served.socket))
        bad.sendall(b"T:1:42\0")  # three fields: the real master panics and dies
        bad.settimeout(WAIT)
        assert bad.recv(100) == b""
    assert "CLIENT-1" in notes(served, "refused")["reason"]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:  # fds, then away
        gone.connect(str(served.socket))
        gone.sendall(b"T:0:%d:zcheck\0" % os.getpid())
        ends = [socket.socketpair() for _ in range(3)]
        for _ours, theirs in ends:
            socket.send_fds(gone, [b"\0"], [theirs.fileno()])
            theirs.close()
    for ours, _ in ends:
        ours.close()
    assert run(served, b"zcheck", b"exit", b"5").returncode == 5


def test_under_a_terminal_raw_mode_is_restored_and_ctrl_c_reaches_the_command(
        served: Start) -> None:
    script = (f"{sys.executable} -m zeus_fsm run zcheck sleep 30; echo status=$?; "
              "stty -a | tr ' ' '\\n' | grep -x -e icanon -e -icanon -e echo -e -echo")
    pid, master = pty.fork()
    if pid == 0:  # the child: a shell on the pty, as a person's terminal
        os.environ["ZEUSSOCK"] = str(served.socket)
        os.execvp("sh", ["sh", "-c", script])
    try:
        notes(served, "running")
        time.sleep(0.2)  # the client puts the terminal in raw mode after the pid
        os.write(master, b"\x03")
        output = _read_all(master, WAIT)
    finally:
        os.waitpid(pid, 0)
        os.close(master)
    assert b"status=130" in output, output  # SIGINT reached the command: 128 + 2
    assert b"icanon" in output.split() and b"echo" in output.split(), output


def _read_all(fd: int, seconds: float) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], end - time.monotonic())
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out.replace(b"\r\n", b"\n")
