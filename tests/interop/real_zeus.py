"""The real Zeus (v0.20.0, built by ../shared/zeusref/build.sh), for the opt-in interop tests.

Every test here is skipped, with the reason, unless ZEUSREF names a folder holding
`bin/zeus` and `src/rubygem/lib`. The real master wants a terminal and a project
folder (a zeus.json and a *Gemfile); it is run under `script` in a session of its
own and stopped by SIGINT to its own pid, then its session is killed as a last resort.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest

ZEUSREF = os.environ.get("ZEUSREF", "")
RUBY_PLAN = Path(__file__).resolve().parent / "ruby" / "plan.rb"
READY_SECONDS = 20.0


def zeusref() -> Path:
    root = Path(ZEUSREF)
    if not ZEUSREF or not (root / "bin" / "zeus").exists() \
            or not (root / "src" / "rubygem" / "lib").is_dir():
        pytest.skip("interop with the real Zeus is opt-in: set ZEUSREF to a folder built by "
                    "../shared/zeusref/build.sh (bin/zeus, src/rubygem/lib)")
    return root


def ruby_shim_command() -> list[str]:
    lib = zeusref() / "src" / "rubygem" / "lib"
    return ["ruby", f"-I{lib}", "-rrubygems", f"-r{RUBY_PLAN}", "-eZeus.go"]


def reference_slave_command(plan: str) -> list[str]:
    return [sys.executable, "-m", "zeus_fsm.slave", "--plan", plan, "--dialect", "zeus"]


@contextmanager
def real_master(folder: Path, config: dict[str, Any],
                env: dict[str, str] | None = None) -> Iterator[int]:
    """The real Go master running in `folder` with `config` as zeus.json; yields its pid
    once every slave is ready (or crashed)."""
    binary = zeusref() / "bin" / "zeus"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zeus.json").write_text(json.dumps(config))
    (folder / "Gemfile").write_text("")
    log = folder / "master.log"
    with log.open("wb") as out:
        # `script` gives the master the terminal it insists on; a new session keeps its
        # whole tree apart, so it can be ended here and only here.
        wrapper = subprocess.Popen(
            ["script", "-qfec", f"exec {binary} --simple-status start", "/dev/null"],
            cwd=folder, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, env={**os.environ, **(env or {})})
    try:
        pid = _wait_ready(folder, log, wrapper)
        yield pid
    finally:
        _stop(folder, wrapper)


def _wait_ready(folder: Path, log: Path, wrapper: subprocess.Popen[bytes]) -> int:
    end = time.monotonic() + READY_SECONDS
    while time.monotonic() < end:
        text = log.read_bytes().decode("utf-8", "replace").replace("\r", "")
        states: dict[str, str] = {}
        for line in text.splitlines():
            words = line.split()
            if "status:" in words and words.index("status:") + 1 < len(words):
                states[words[words.index("status:") - 1]] = words[words.index("status:") + 1]
        pid_file = folder / ".zeus.pid"
        if states and pid_file.exists() and pid_file.read_text().strip() \
                and not {"unbooted", "booted"} & set(states.values()):
            return int(pid_file.read_text().strip())
        if wrapper.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"the real master did not get ready; its log:\n{log.read_text()}")


def _stop(folder: Path, wrapper: subprocess.Popen[bytes]) -> None:
    pid_file = folder / ".zeus.pid"
    master = None
    with suppress(OSError, ValueError):
        master = int(pid_file.read_text().strip())
        os.kill(master, signal.SIGINT)  # a clean stop: it stops its slaves itself
    try:
        wrapper.wait(5.0)
    except subprocess.TimeoutExpired:
        if master is not None:  # `script` gave it a session of its own: by pid
            with suppress(ProcessLookupError):
                os.kill(master, signal.SIGKILL)
    with suppress(ProcessLookupError):
        os.killpg(wrapper.pid, signal.SIGKILL)  # the session we made: nothing else
    with suppress(subprocess.TimeoutExpired):
        wrapper.wait(5.0)
    # Everything the run caused (master, slaves, runners, commands) has the folder as
    # its working directory: none of it may outlive the master's stop.
    end = time.monotonic() + READY_SECONDS
    while (left := processes_in(folder)) and time.monotonic() < end:
        time.sleep(0.05)
    for pid in left:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of the run survived the master's stop: {left}"


def processes_in(folder: Path) -> list[int]:
    """Live pids whose working directory is `folder` (zombies have none to read)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with suppress(OSError):
                if os.readlink(f"/proc/{entry}/cwd") == str(folder.resolve()):
                    found.append(int(entry))
    return found
