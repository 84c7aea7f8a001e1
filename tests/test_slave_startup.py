"""The slave's start-up imports, against a budget set from measurement.

Every slave a master starts (a conformance case, a `zeus start` restart) pays for
its imports. Nothing here asserts a duration (a ratio of import times moved by more
than its margin on a loaded CI machine): the tests count and name modules;
benchmarks/bench_spawn.py reports the milliseconds against `python -c pass`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SLAVE = "zeus_fsm.slave.reference"  # what `python -m zeus_fsm.slave` loads
#: What the slave cannot do without: the engine, attrs, and the OS modules it talks with.
DEPENDENCIES = ("attrs", "transitions", "socket", "select", "threading", "signal", "fcntl",
                "struct", "array")
#: Measured: 16 modules, all zeus_fsm's own (protocol core, transport, slave); main had 21
#: (with argparse, gettext and transitions' nesting module).
MODULE_BUDGET = 20
#: Never at start-up: the other roles, their libraries, and what the slave once paid for.
FORBIDDEN = ("argparse", "gettext", "asyncio", "click", "rich", "watchfiles",
             "transitions.extensions", "zeus_fsm.protocol.connection",
             "zeus_fsm.protocol.lifecycle", "zeus_fsm.protocol.command", "zeus_fsm.slave.runner",
             "zeus_fsm.master", "zeus_fsm.views", "zeus_fsm.trace", "zeus_fsm.start",
             "zeus_fsm.conformance", "zeus_fsm.cli")


def _run(code: str, env: dict[str, str] | None = None,
         *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *flags, "-c", code], capture_output=True, text=True,
                          env=env, check=True, timeout=60, cwd=Path(__file__).parent)


def test_the_slave_imports_little_beyond_its_dependencies() -> None:
    done = _run(f"import sys\nimport {', '.join(DEPENDENCIES)}\nbefore = set(sys.modules)\n"
                f"import {SLAVE}\nprint('\\n'.join(sorted(set(sys.modules) - before)))")
    added = done.stdout.split()
    assert SLAVE in added
    assert not [m for m in added if m.startswith(FORBIDDEN)]
    assert len(added) <= MODULE_BUDGET, added
