"""Opt-in (ZEUSREF): the real Go `zeus` client runs commands through `zeus-fsm start`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from real_zeus import zeusref

WAIT = 20.0


def test_the_real_client_through_zeus_fsm_start(tmp_path: Path) -> None:
    binary = zeusref() / "bin" / "zeus"
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "Gemfile").write_text("")  # where both the real client and we look
    (folder / "zeus.json").write_text(json.dumps({
        "command": f"{sys.executable} -m zeus_fsm.slave "
                   "--plan zeus_fsm.examples.demo:DemoPlan --dialect zeus",
        "plan": {"boot": {"child_ok": {"hello": [], "zcheck": ["zc"]}}}}))
    env = {k: v for k, v in os.environ.items() if k != "ZEUSSOCK"}
    start = subprocess.Popen([sys.executable, "-m", "zeus_fsm", "start", "zeus.json",
                              "--dialect", "zeus", "--json-status"], cwd=folder, env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + WAIT
        while not (folder / ".zeus.sock").exists() and time.monotonic() < end:
            time.sleep(0.05)

        def zeus(*args: bytes) -> subprocess.CompletedProcess[bytes]:
            return subprocess.run([os.fsencode(binary), *args], cwd=folder, env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=WAIT, check=False)

        hello = zeus(b"hello", b"a", b"b")  # waits for child_ok to boot if it has not yet
        assert (hello.stdout, hello.returncode) == (b"hello a b\n", 2), hello.stderr
        run = zeus(b"zc", b"argv", b"a", b"", b"b\xff", b"")
        assert (run.stdout, run.returncode) == (b"a\0\0b\xff\0\0", 0), run.stderr
        assert zeus(b"zcheck", b"exit", b"9").returncode == 9
        print(f"real zeus client via zeus-fsm start: `zeus hello a b` -> "
              f"{hello.stdout!r}, status {hello.returncode}")
    finally:
        start.terminate()
        assert start.wait(WAIT) == 0
    assert not (folder / ".zeus.sock").exists()
