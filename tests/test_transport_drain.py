"""transport/processes.py: bounded reads to EOF, output queues, process facts, exit statuses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from zeus_fsm.transport import drain, processes


def test_read_to_eof_reads_everything_across_writes() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        def write() -> None:
            for part in (b"a\0", b"b c\0", b"\0"):
                theirs.sendall(part)
                time.sleep(0.01)
            theirs.shutdown(socket.SHUT_WR)

        writer = threading.Thread(target=write)
        writer.start()
        assert drain.read_to_eof(ours.fileno(), 5, 100) == b"a\0b c\0\0"
        writer.join()


def test_read_to_eof_is_bounded_in_time_and_size() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            drain.read_to_eof(ours.fileno(), 0.1, 100)
        assert time.monotonic() - started < 1
        theirs.sendall(b"x" * 101)
        with pytest.raises(drain.TooMuchData):
            drain.read_to_eof(ours.fileno(), 1, 100)


def test_unsent_bytes_and_drain() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        assert drain.unsent_bytes(ours.fileno()) == 0
        ours.sendall(b"12345")
        queued = drain.unsent_bytes(ours.fileno())
        assert queued is not None and queued >= 5  # AF_UNIX counts the buffers' memory
        assert not drain.drain_output([ours.fileno()], 0.05)
        threading.Timer(0.05, lambda: theirs.recv(10)).start()
        assert drain.drain_output([ours.fileno()], 2)


def test_process_exists_and_a_zombie_does_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 5
        while processes.process_exists(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)  # it exits; unreaped, it is a zombie
        assert not processes.process_exists(child.pid)
        assert os.path.exists(f"/proc/{child.pid}")  # still there, as a zombie
    finally:
        child.wait(5)
    assert processes.process_exists(os.getpid())
    assert processes.process_exists(1)  # another user's or ours: it exists


def test_exit_status_is_a_shells() -> None:
    for argv, expected in (([sys.executable, "-c", "raise SystemExit(3)"], 3),
                           ([sys.executable, "-c", "import os; os.kill(os.getpid(), 15)"],
                            128 + signal.SIGTERM)):
        pid = os.spawnv(os.P_NOWAIT, argv[0], argv)
        _, status = os.waitpid(pid, 0)
        assert processes.exit_status(status) == expected


def test_process_handle_and_wait_exit() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    handle = processes.process_handle(child.pid)
    assert handle is not None
    try:
        assert not processes.wait_exit(handle, 0)
        assert processes.wait_exit(handle, 5)
    finally:
        os.close(handle)
        child.wait(5)
    assert processes.process_handle(child.pid) is None
    assert not processes.kill_group(child.pid)
