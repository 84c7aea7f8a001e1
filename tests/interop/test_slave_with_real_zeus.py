"""Opt-in (ZEUSREF): the reference slave's commands under the real Go master and client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from real_zeus import real_master, zeusref

WAIT = 20.0
CONFIG = {"command": f"{sys.executable} -m zeus_fsm.slave --dialect zeus",
          "plan": {"boot": {"child_ok": {"zcheck": ["zc"]}, "hello": []}}}


def zeus(folder: Path, *args: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([os.fsencode(zeusref() / "bin" / "zeus"), *args], cwd=folder,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=WAIT,
                          check=False)


def test_hello_a_b_under_the_real_master_and_client(tmp_path: Path) -> None:
    with real_master(tmp_path / "app", CONFIG):
        run = zeus(tmp_path / "app", b"hello", b"a", b"b")
    assert (run.stdout, run.returncode) == (b"hello a b\n", 2), run.stderr
    print(f"real client, reference slave: `zeus hello a b` -> {run.stdout!r}, "
          f"status {run.returncode}")


def test_zcheck_through_the_real_client(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    with real_master(folder, CONFIG):
        run = zeus(folder, b"zcheck", b"argv", b"a", b"b c", b"", b"\xff", b"")
        assert (run.stdout, run.returncode) == (b"a\0b c\0\0\xff\0\0", 0), run.stderr
        assert zeus(folder, b"zc", b"exit", b"7").returncode == 7  # an alias
        assert zeus(folder, b"zcheck", b"kill", b"15").returncode == 128 + signal.SIGTERM
        run = zeus(folder, b"zcheck", b"stderr", b"oops")
        assert (run.stdout, run.stderr, run.returncode) == (b"", b"oops", 0)
