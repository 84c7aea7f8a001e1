"""Helpers shared by the master's tests: the fake slave's command line, and leak checks."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

FAKE_SLAVE = Path(__file__).with_name("fake_slave.py")


def fake_command(dialect: str, root_mode: str = "ok") -> list[str]:
    return [sys.executable, str(FAKE_SLAVE), dialect, root_mode]


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def my_children() -> set[int]:
    """This process's children (zombies too), from every thread's children list."""
    found: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{task}/children") as file:
            found.update(int(pid) for pid in file.read().split())
    return found


def processes_in_session(session_id: int) -> list[str]:
    """Every process (zombies too) whose session or process group is `session_id`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it went away while we looked
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp session ...
        if session_id in (int(fields[2]), int(fields[3])):
            found.append(f"{entry} {stat[:stat.rindex(')') + 1]} state {fields[0]}")
    return found


def wait_no_processes(session_id: int, timeout: float = 0.5) -> list[str]:
    """Processes left in the slaves' session after `timeout` (a parent reaps asynchronously)."""
    end = time.monotonic() + timeout
    while True:
        left = processes_in_session(session_id)
        if not left or time.monotonic() > end:
            return left
        time.sleep(0.02)


@contextmanager
def no_leaks() -> Iterator[list[int]]:
    """Fail if fds of this process stay open, or slave processes or children of this
    process (zombies included) are left, afterwards.

    Yields a list the test appends root pids to (the slaves' session id).
    """
    before, children = open_fds(), my_children()
    roots: list[int] = []
    yield roots
    leaked = open_fds() - before
    left = [p for root in roots for p in wait_no_processes(root)]
    unreaped = my_children() - children
    assert not leaked, f"fds left open: {sorted(leaked)}"
    assert not left, f"slave processes left: {left}"
    assert not unreaped, f"children of the test process left: {sorted(unreaped)}"
