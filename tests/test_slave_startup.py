"""The slave's start-up imports, against a budget set from measurement.

Every slave a master starts (a conformance case, a `zeus start` restart) pays for
its imports. Nothing here asserts a duration: one test counts modules, the other
compares the slave's own import time with its dependencies' in the same runs, so a
busy machine slows both alike. benchmarks/bench_spawn.py reports the milliseconds.
"""

from __future__ import annotations

import os
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
#: The slave's own imports over its dependencies' (-X importtime, bytecode cached, min of
#: runs): measured 0.40 (~0.5 on main, before argparse and transitions' nesting module
#: went and the command machine left machine.py's imports); importing the views, the
#: master or click would be several times this.
TIME_RATIO_BUDGET = 0.5
RUNS = 5


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


def _import_times(env: dict[str, str]) -> tuple[int, int]:
    """(-X importtime cumulative us of the dependencies, of the slave after them)."""
    done = _run(f"import {', '.join(DEPENDENCIES)}\nimport {SLAVE}", env, "-X", "importtime")
    dependencies = own = 0
    for line in done.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3 or fields[2].startswith("  ") or not fields[1].strip().isdigit():
            continue  # a nested import, or the header
        name = fields[2].strip()
        if name in DEPENDENCIES:
            dependencies += int(fields[1])
        elif name.startswith("zeus_fsm"):
            own += int(fields[1])
    return dependencies, own


def test_the_slaves_own_imports_cost_a_fraction_of_its_dependencies(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path)  # compiled once, as an installed package is
    _run(f"import {SLAVE}", env)
    times = [_import_times(env) for _ in range(RUNS)]
    dependencies, own = min(t[0] for t in times), min(t[1] for t in times)
    assert own > 0 and dependencies > 0
    assert own / dependencies <= TIME_RATIO_BUDGET, (own, dependencies)
