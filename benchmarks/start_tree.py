"""The tree bench_restart and bench_soak run under `zeus-fsm start`: its plan (four
slaves, each reading a file of its own), its zeus.json, and the running supervisor
with its `--json-status` lines read by a thread."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PLAN = textwrap.dedent('''
    import os
    HERE = os.path.dirname(os.path.realpath(__file__))

    def _read(name):
        with open(os.path.join(HERE, name), encoding="utf-8") as file:
            return file.read()

    class Plan:
        def boot(self): _read("root.txt")
        def alpha(self): _read("alpha.txt")
        def beta(self): _read("beta.txt")
        def gamma(self): _read("gamma.txt")
''')
TREE: dict[str, Any] = {"boot": {"alpha": {"gamma": {}}, "beta": {}}}
#: The file each node reads (editing it restarts that node and those below it).
FILES = ("root.txt", "alpha.txt", "beta.txt", "gamma.txt")

Event = dict[str, Any]


@contextmanager
def plan_directory(module: str) -> Iterator[Path]:
    """A temporary folder with the plan as `module`.py, the nodes' files and zeus.json."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        (directory / f"{module}.py").write_text(PLAN, encoding="utf-8")
        for name in FILES:
            (directory / name).write_text("1\n", encoding="utf-8")
        config = {"command": ["{python}", "-m", "zeus_fsm.slave", "--plan", f"{module}:Plan"],
                  "plan": TREE}
        (directory / "zeus.json").write_text(json.dumps(config), encoding="utf-8")
        yield directory


class StartProcess:
    """A running `zeus-fsm start --json-status` on a plan_directory(), its lines queued."""

    def __init__(self, directory: Path, dialect: str, debounce: int) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(directory), *filter(None, [os.environ.get("PYTHONPATH")])])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zeus_fsm", "start", str(directory / "zeus.json"),
             "--json-status", "--dialect", dialect, "--debounce", str(debounce)],
            stdout=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[Event | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)  # it exited
