"""Leaks: many boot -> spawn -> crash -> kill cycles in this one test process.

After every cycle this process has the fds it started with and no child left; the root
slave (our child) has as many fds before its Master closes as right after it booted;
the resident memory grows by less than a small bound. A short run is in the default
suite; the long one is marked `leak` (CI, 1,000 cycles):

    ZEUS_FSM_LEAK_CYCLES=1000 .venv/bin/pytest -m leak tests/test_leaks.py
"""

from __future__ import annotations

import gc
import os
import time

import pytest
from fake_slaves.harness import my_children, open_fds, wait_no_processes
from test_hostile import GRACE, STEP, hostile_command

from zeus_fsm.master.loop import Master

LONG_CYCLES = int(os.environ.get("ZEUS_FSM_LEAK_CYCLES", "0"))
PAGE = os.sysconf("SC_PAGE_SIZE")
WARM_UP = 10  # cycles before memory is measured (imports, caches, hypothesis-free)
RSS_BOUND = 8 * 1024 * 1024  # bytes of growth allowed after the warm-up, whatever the count
#: Leaks are under test here, not speed: no step but the hang's may time out, even on a
#: loaded CI machine (a 0.3 s step once failed the 1,000-cycle run there).
ROOMY = 10.0


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def one_cycle(dialect: str, with_hang: bool) -> None:
    with Master(hostile_command(dialect), dialect, step_timeout=ROOMY, kill_grace=GRACE,
                drain_timeout=ROOMY) as master:
        root = master.boot_root()
        assert root.ok and root.pid is not None, root.errors
        root_fds = fd_count(root.pid)
        crash = master.spawn(root, "files_then_fail.20")  # R:<error>, files, exits
        assert master.wait_stopped(crash, timeout=ROOMY + GRACE + 1.0)
        assert (len(crash.loaded_files), crash.errors) == (20, []), (
            crash.describe(), crash.handshake.phase, crash.exit_status)
        if with_hang:  # costs a step timeout: one cycle in ten
            master.step_timeout = STEP  # read at each new step: this one alone is short
            hung = master.spawn(root, "never_sends_r")  # killed after the step timeout
            master.step_timeout = ROOMY
            assert [e.requirement for e in hung.errors] == ["RESULT-6"]
        child = master.spawn(root, "ok")
        assert child.ok
        master.stop(child)  # kill
        assert fd_count(root.pid) == root_fds, "the root slave holds fds it did not have"
    assert wait_no_processes(root.pid) == []


def run_cycles(cycles: int) -> dict[str, float]:
    fds, children = open_fds(), my_children()
    started = time.monotonic()
    baseline = 0
    for n in range(cycles):
        one_cycle("spec" if n % 2 == 0 else "zeus", with_hang=n % 10 < 2)
        assert open_fds() == fds, f"cycle {n}: fds {sorted(open_fds() - fds)} left open"
        assert my_children() == children, f"cycle {n}: children left"
        if n + 1 == min(WARM_UP, cycles):
            gc.collect()
            baseline = rss()
    gc.collect()
    growth = rss() - baseline
    took = time.monotonic() - started
    print(f"\n{cycles} cycles in {took:.1f} s; fds {len(fds)} -> {len(open_fds())}; "
          f"RSS growth after warm-up {growth / 1024:.0f} KiB")
    assert growth < RSS_BOUND, f"RSS grew by {growth} bytes"
    return {"seconds": took, "growth": growth}


def test_twenty_cycles_leak_nothing() -> None:
    run_cycles(20)


@pytest.mark.leak
@pytest.mark.skipif(not LONG_CYCLES, reason="set ZEUS_FSM_LEAK_CYCLES for the long run")
def test_many_cycles_leak_nothing() -> None:
    run_cycles(LONG_CYCLES)
