"""Opt-in: the reference slave's commands under the real Zeus (Go master and client, v0.20.0).

Skipped, with the reason, unless ZEUSREF names a folder holding the real Zeus
(`bin/zeus`; see ../shared/zeusref/README.md). The master wants a terminal, so it
runs under `script`, in a project folder of its own (a zeus.json and an empty
Gemfile); every wait is bounded, and the test checks that no process it caused
(master, slaves, runners, commands: all have the project folder as their cwd)
survives the master's stop.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ZEUSREF = os.environ.get("ZEUSREF", "")
ZEUS = Path(ZEUSREF, "bin", "zeus") if ZEUSREF else None
pytestmark = [
    pytest.mark.skipif(not ZEUSREF, reason="set ZEUSREF to the real Zeus build "
                                           "(../shared/zeusref/README.md) to run interop tests"),
    pytest.mark.skipif(bool(ZEUSREF) and not (ZEUS and ZEUS.is_file()),
                       reason=f"ZEUSREF={ZEUSREF} holds no bin/zeus"),
    pytest.mark.skipif(shutil.which("script") is None,
                       reason="the real master needs a terminal: `script` (util-linux) is missing"),
]

#: Bound of every wait here (seconds): the master's boot, one client run, the stop.
WAIT = 20.0


def _processes_in(folder: Path) -> list[int]:
    """Pids whose working directory is `folder` (the master and all it started)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/cwd") == str(folder):
                    found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A running real master whose plan is the reference slave's demo plan."""
    folder = tmp_path.resolve()
    (folder / "Gemfile").write_text("")
    (folder / "zeus.json").write_text(json.dumps({
        "command": f"{sys.executable} -m zeus_fsm.slave --dialect zeus",
        "plan": {"boot": {"child_ok": {"zcheck": ["zc"]}, "hello": []}},
    }))
    log = folder / "master.log"
    assert ZEUS is not None
    with open(log, "wb") as out:
        script = subprocess.Popen(
            ["script", "-qfec", f"exec timeout -s INT {int(WAIT * 3)} {ZEUS} --simple-status "
             "start", "/dev/null"], cwd=folder, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + WAIT
        while not all(f"{name} status: ready" in log.read_text(errors="replace")
                      for name in ("boot", "child_ok")):
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            assert script.poll() is None, log.read_text(errors="replace")
            time.sleep(0.05)
        yield folder
    finally:
        pid_file = folder / ".zeus.pid"
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGINT)  # the master's clean stop
        try:
            script.wait(WAIT)
        finally:
            if script.poll() is None:
                os.killpg(script.pid, signal.SIGKILL)
                script.wait(WAIT)
        deadline = time.monotonic() + WAIT
        while (left := _processes_in(folder)) and time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"processes of the run survived the master's stop: {left}"


def zeus(folder: Path, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    assert ZEUS is not None
    return subprocess.run([os.fsencode(ZEUS), *args], cwd=folder, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=WAIT, check=False)


def test_hello_a_b_under_the_real_master_and_client(project: Path) -> None:
    run = zeus(project, b"hello", b"a", b"b")
    assert (run.stdout, run.returncode) == (b"hello a b\n", 2), run.stderr


def test_zcheck_through_the_real_client(project: Path) -> None:
    run = zeus(project, b"zcheck", b"argv", b"a", b"b c", b"", b"\xff", b"")
    assert (run.stdout, run.returncode) == (b"a\0b c\0\0\xff\0\0", 0), run.stderr
    assert zeus(project, b"zc", b"exit", b"7").returncode == 7  # an alias
    assert zeus(project, b"zcheck", b"kill", b"15").returncode == 128 + signal.SIGTERM
    run = zeus(project, b"zcheck", b"stderr", b"oops")
    assert (run.stdout, run.stderr, run.returncode) == (b"", b"oops", 0)
