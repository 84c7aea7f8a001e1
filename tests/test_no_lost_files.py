"""No lost files: what a failing or killed slave reported before it went is all recorded.

spec's datagram socket gives no EOF: the master learns of the death from the
pidfd and must then drain the datagrams still queued. zeus's pipe keeps its
bytes after the writer dies. Both are checked with 10,000 paths.
"""

from __future__ import annotations

import time

import pytest
from fake_slaves.harness import no_leaks
from test_hostile import DIALECTS, GRACE, hostile_command

from zeus_fsm.master.loop import Master
from zeus_fsm.protocol.errors import ChannelClosed

COUNT = 10_000
PATHS = [b"/hostile/lost/%05d.rb" % n for n in range(COUNT)]
STEP = 10.0  # reporting 10,000 paths before R takes a while on a loaded machine


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_failing_slave_that_exits_has_every_path_recorded(dialect: str) -> None:
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=STEP,
                                     drain_timeout=STEP, kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        bad = master.spawn(root, f"files_then_fail.{COUNT}")
        assert bad.result is not None and not bad.result.ok
        assert master.wait_stopped(bad, timeout=STEP)
        assert bad.errors == []  # a failed action is no broken rule
        assert bad.loaded_files == PATHS  # half before R, half after: all, in order
        assert master.spawn(root, "ok").ok


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_failing_slave_that_hangs_is_drained_before_it_is_killed(dialect: str) -> None:
    drain = 0.5
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=STEP,
                                     drain_timeout=drain, kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        bad = master.spawn(root, f"files_then_fail_and_hang.{COUNT}")
        started = time.monotonic()
        assert master.wait_stopped(bad, timeout=drain + GRACE + 2.0)
        assert time.monotonic() - started < drain + GRACE + 2.0
        assert bad.loaded_files == PATHS
        # It never closed its channel: that is its own fault, reported once drained.
        assert [e.requirement for e in bad.errors] == ["CRASH-1"]
        assert master.spawn(root, "ok").ok


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_slave_killed_by_a_signal_has_every_sent_path_recorded(dialect: str) -> None:
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        bad = master.spawn(root, f"files_then_sigkill.{COUNT}")
        assert master.wait_stopped(bad, timeout=STEP)
        # Every path was written before the SIGKILL, so every one reached the socket/pipe.
        assert bad.loaded_files == PATHS
        assert [(type(e), e.requirement) for e in bad.errors] == [(ChannelClosed, "CRASH-3")]
        assert bad.result is None
        assert master.spawn(root, "ok").ok
