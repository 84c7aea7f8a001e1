"""`zeus-fsm start --json-status` as the tests run it: a process read line by line."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: The longest any single expected line may take (a restart takes tens of ms).
WAIT = 10.0

Event = dict[str, Any]


class Start:
    """A running `zeus-fsm start --json-status`, read line by line with bounded waits."""

    def __init__(self, config: Path, dialect: str, socket: Path | None = None,
                 *options: str) -> None:
        #: Where clients connect: beside the config unless told (never in the package).
        self.socket = socket or config.parent / ".zeus.sock"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(config.parent), os.environ.get("PYTHONPATH", "")]),
            "ZEUSSOCK": str(self.socket)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zeus_fsm", "start", str(config), "--json-status",
             "--dialect", dialect, "--debounce", "50", *options],
            stdout=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[Event | None] = queue.Queue()
        self.seen: list[Event] = []
        self.pids: set[int] = set()
        self.root_pid: int | None = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next_event(self, timeout: float) -> Event | None:
        event = self.lines.get(timeout=timeout)
        if event is not None:
            self.seen.append(event)
            if event["event"] == "node" and event["pid"]:
                self.pids.add(event["pid"])
                if event["node"] == "boot":
                    self.root_pid = event["pid"]
        return event

    def wait_for(self, predicate: Callable[[Event], bool], what: str) -> Event:
        deadline = time.monotonic() + WAIT
        while (left := deadline - time.monotonic()) > 0:
            try:
                event = self.next_event(left)
            except queue.Empty:
                break
            if event is None:
                pytest.fail(f"zeus-fsm start exited while waiting for {what}: {self.seen[-5:]}")
            if predicate(event):
                return event
        pytest.fail(f"no {what} within {WAIT}s; last lines: {self.seen[-5:]}")

    def settled(self, condition: Callable[[dict[str, Event]], bool], what: str
                ) -> dict[str, Event]:
        """The next "settled" line whose rows (by node) satisfy `condition`."""
        event = self.wait_for(lambda e: e["event"] == "settled"
                              and condition({row["node"]: row for row in e["nodes"]}), what)
        return {row["node"]: row for row in event["nodes"]}

    def stop(self) -> int:
        """SIGTERM; the exit code (bounded wait)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=WAIT)
            pytest.fail("zeus-fsm start did not exit on SIGTERM")
        while self.next_event(WAIT) is not None:  # everything up to EOF is recorded
            pass
        return code


def all_connected(rows: dict[str, Event]) -> bool:
    return all(row["state"] == "connected" and row["files"] > 0 for row in rows.values())


def pid_map(rows: dict[str, Event]) -> dict[str, int]:
    return {name: row["pid"] for name, row in rows.items()}


def leftovers(pids: set[int], group: int | None) -> list[str]:
    """Processes (zombies too) that are one of `pids` or in the process group `group`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(entry) in pids or int(fields[2]) == group:
            found.append(f"pid {entry} state {fields[0].decode()} pgid {fields[2].decode()}")
    return found
