"""Opt-in (ZEUSREF): `zeus-fsm run` through the real Go master and the real Ruby shim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from real_zeus import real_master, ruby_shim_command

CONFIG = {"plan": {"boot": {"child_ok": {"zcheck": ["zc"]}}}}


def run(folder: Path, *args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "zeus_fsm", "run", *args], cwd=folder,
                          input=stdin, capture_output=True, timeout=30, check=False)


def test_zeus_fsm_run_through_the_real_master_and_ruby_shim(tmp_path: Path) -> None:
    folder = tmp_path / "app"
    config = {"command": " ".join(ruby_shim_command()), **CONFIG}
    with real_master(folder, config):
        done = run(folder, "zcheck", "exit", "3")
        assert done.returncode == 3, done.stderr
        done = run(folder, "zc", "argv", "a", "b c", "", "d")  # an alias; an empty argument
        assert (done.returncode, done.stdout) == (0, b"a\0b c\0\0d\0"), done.stderr
        done = run(folder, "zcheck", "stderr", "to-stderr")
        assert (done.stdout, done.stderr) == (b"", b"to-stderr")
        done = run(folder, "zcheck", "cat", stdin=b"line1\nline2\0bin\xff")
        assert done.stdout == b"line1\nline2\0bin\xff"
        done = run(folder, "nosuch")
        assert done.returncode == 127
        assert done.stderr.startswith(b"zeus-fsm run: the master at ")
    print(f"zeus-fsm run via the real master: last status {done.returncode}")
