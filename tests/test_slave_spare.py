"""The reference slave's spare child (zeus_fsm/slave/spare.py), with real processes.

A slave that has forked a child keeps one spare: forked ahead of the next S, waiting on
a pipe for its identifier. Nothing of it may show on the wire, leak, or outlive its
slave. Every wait here is bounded and none of them is a timing assertion: each waits
for a condition and fails only when it never comes.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fake_slaves.harness import no_leaks
from test_master_commands import client, start  # noqa: F401 - `client` is a fixture

from zeus_fsm.examples import demo
from zeus_fsm.master.loop import Master
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.slave import spare
from zeus_fsm.transport.processes import (
    SPARE_ENV,
    ProcessFacts,
    process_table,
    process_table_entry,
    spares_enabled,
)

PLAN = "zeus_fsm.examples.demo:DemoPlan"
#: A bound for conditions that hold within milliseconds unless something is wrong.
WAIT = 10.0
DIALECTS = ["spec", "zeus"]


def slave_command(dialect: str) -> list[str]:
    return [sys.executable, "-m", "zeus_fsm.slave", "--plan", PLAN, "--dialect", dialect]


def master_for(dialect: str, spares: bool = True) -> Master:
    env = {**os.environ, SPARE_ENV: "1" if spares else "0"}
    return Master(slave_command(dialect), dialect, step_timeout=WAIT, env=env)


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {timeout:g} s"
        time.sleep(0.005)


def spares_of(slave: int) -> list[ProcessFacts]:
    """The slave's live children in a process group of their own but its session: spares
    (runners have a session of their own; children are in the slaves' group)."""
    me = process_table_entry(slave)
    assert me is not None
    return [f for f in process_table().values() if f.ppid == slave and not f.zombie
            and f.pgid == f.pid and f.sid == me.sid]


def one_spare(slave: int) -> int:
    """Wait for the slave's spare (bounded); its pid."""
    wait_for(lambda: len(spares_of(slave)) == 1, f"one spare under {slave}")
    return spares_of(slave)[0].pid


def kill(pid: int | None) -> None:
    """SIGKILL one process (never pid 0 or -1: those are process groups, ours included)."""
    assert pid is not None and pid > 0, pid
    os.kill(pid, signal.SIGKILL)


def exited(pid: int) -> bool:
    facts = process_table_entry(pid)
    return facts is None or facts.zombie


def gone(pid: int) -> bool:
    """Exited and reaped (by its parent: a zombie left to init would linger)."""
    return process_table_entry(pid) is None


def spawn_ok(master: Master, parent: SlaveSession, identifier: str = "child_ok",
             ) -> SlaveSession:
    child = master.spawn(parent, identifier)
    assert child.ok, (child.errors, child.result)
    return child


def pipe_inodes(pid: int, lowest_fd: int = 0) -> set[str]:
    found = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        if int(fd) < lowest_fd:
            continue
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:  # closed while we looked
            continue
        if target.startswith("pipe:"):
            found.add(target)
    return found


@pytest.fixture(params=DIALECTS)
def booted(request: pytest.FixtureRequest) -> Iterator[tuple[Master, SlaveSession]]:
    with no_leaks() as roots, master_for(request.param) as master:
        root = master.boot_root()
        assert root.ok, root.errors
        roots.append(root.pid or 0)
        yield master, root


def test_a_slave_that_forked_a_child_keeps_a_spare_and_the_next_s_uses_it(
        booted: tuple[Master, SlaveSession]) -> None:
    master, root = booted
    assert root.pid is not None
    master.stop(spawn_ok(master, root))
    spare_pid = one_spare(root.pid)
    facts = process_table_entry(spare_pid)
    assert facts is not None and facts.pgid == spare_pid  # no slave yet: not in their group
    assert spare_pid not in {s.pid for s in master.sessions}  # the master never heard of it
    child = spawn_ok(master, root)
    assert child.pid == spare_pid  # the spare became the child, in the slaves' group
    facts = process_table_entry(spare_pid)
    assert facts is not None and facts.pgid == root.pid
    assert child.parent_pid == root.pid and child.errors == []
    assert one_spare(root.pid) != spare_pid  # and a new spare follows


def test_a_child_from_a_spare_reports_the_files_a_forked_child_reports() -> None:
    """Loaded files: the spare's baseline is its parent's modules, as a fork's would be."""
    files: dict[bool, set[bytes]] = {}
    plan_files = demo.EXPECTED_FILES["child_ok"]
    for spares in (True, False):
        with no_leaks() as roots, master_for("zeus", spares) as master:
            root = master.boot_root()
            roots.append(root.pid or 0)
            master.stop(spawn_ok(master, root))
            spare_pid = one_spare(root.pid or 0) if spares else None
            child = spawn_ok(master, root)
            assert (child.pid == spare_pid) is spares
            # all of the first child's files, stdlib included, come for the second too
            wanted = files.get(True, set()) | plan_files
            master.wait_files(child, lambda got, w=wanted: w <= set(got),  # type: ignore[misc]
                              timeout=WAIT)
            files[spares] = set(child.loaded_files)
    assert files[True] == files[False]


def test_a_stale_spare_is_not_used() -> None:
    """A module loaded by the parent after the spare's fork: a child forked now would not
    report it, a spare's child would. The spare must be retired."""
    one = spare.Spare(pid=0, order=None, connected=None, modules=tuple(sys.modules))
    assert not one.stale()
    sys.modules["zeus_fsm_test_stale_spare"] = sys  # as an import would
    try:
        assert one.stale()
    finally:
        del sys.modules["zeus_fsm_test_stale_spare"]


def test_after_a_command_the_stale_spare_is_replaced(client: int) -> None:  # noqa: F811
    """The first C makes the slave import its runner module: the spare is stale then."""
    with no_leaks() as roots, master_for("zeus") as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        master.stop(spawn_ok(master, root))
        stale = one_spare(root.pid or 0)
        run, out, err = start(master, root, client, "zcheck", [b"exit", b"0"])
        assert master.wait_command(run, WAIT) and run.status == 0
        out.close()
        err.close()
        child = spawn_ok(master, root)
        assert child.pid != stale
        wait_for(lambda: gone(stale), "the stale spare reaped")


def test_a_runner_does_not_hold_the_spares_pipes(client: int) -> None:  # noqa: F811
    with no_leaks() as roots, master_for("zeus") as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        master.stop(spawn_ok(master, root))
        spare_pid = one_spare(root.pid or 0)
        # The spare's own pipes (fds 0-2 are the slave's stdio), once its dry run (which
        # makes a pipe in zeus) is over: the order and the connected pipe, whose other
        # ends the slave holds.
        wait_for(lambda: len(pipe_inodes(spare_pid, lowest_fd=3)) == 2, "the spare idle")
        spare_pipes = pipe_inodes(spare_pid, lowest_fd=3)
        assert spare_pipes <= pipe_inodes(root.pid or 0)
        run, out, err = start(master, root, client, "zcheck", [b"sleep", b"30"])
        try:
            master.run(lambda: run.pid is not None, WAIT)  # the command sent its P
            for pid in (run.machine.runner_pid, run.pid):
                assert pid is not None
                assert not pipe_inodes(pid) & spare_pipes, f"{pid} holds a spare's pipe"
        finally:
            if run.pid is not None:
                kill(run.pid)
            master.wait_command(run, WAIT)
            out.close()
            err.close()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_spare_ends_and_is_reaped_when_its_slave_is_stopped(dialect: str) -> None:
    with no_leaks() as roots, master_for(dialect) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        middle = spawn_ok(master, root)
        master.stop(spawn_ok(master, middle))
        spare_pid = one_spare(middle.pid or 0)
        master.stop(middle)  # SIGTERM: it ends its spare and reaps it first
        assert gone(spare_pid)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_spare_ends_when_its_slave_is_killed(dialect: str) -> None:
    """SIGKILL: nothing runs in the slave, the spare sees EOF on its order pipe and exits
    (then init reaps it)."""
    with master_for(dialect) as master:
        root = master.boot_root()
        middle = spawn_ok(master, root)
        master.stop(spawn_ok(master, middle))
        spare_pid = one_spare(middle.pid or 0)
        kill(middle.pid)
        wait_for(lambda: exited(spare_pid), "the orphaned spare exited")


@pytest.mark.parametrize("wait_until_reaped", [True, False])
def test_s_still_works_when_the_spare_was_killed(
        booted: tuple[Master, SlaveSession], wait_until_reaped: bool) -> None:
    master, root = booted
    master.stop(spawn_ok(master, root))
    spare_pid = one_spare(root.pid or 0)
    kill(spare_pid)
    if wait_until_reaped:
        wait_for(lambda: gone(spare_pid), "the killed spare reaped by its slave")
    child = spawn_ok(master, root)  # right after the kill, or once it is known dead
    assert child.pid != spare_pid
    master.stop(child)
    assert one_spare(root.pid or 0) != spare_pid  # after that S, a new one


def test_with_spares_off_every_child_is_forked_at_its_s() -> None:
    with no_leaks() as roots, master_for("zeus", spares=False) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        for _ in range(3):
            before = {f.pid for f in process_table().values()}
            child = spawn_ok(master, root)
            assert child.pid not in before  # forked after its S
            master.stop(child)
        assert spares_of(root.pid or 0) == []


def test_the_switch_is_read_from_the_environment() -> None:
    assert spares_enabled({SPARE_ENV: "1"})
    assert not spares_enabled({}) and not spares_enabled({SPARE_ENV: "0"})


def test_a_spare_order_round_trips_any_identifier(tmp_path: Path) -> None:
    """The order pipe carries any str the wire allowed (lone surrogates included); a
    short order (its parent died mid-write) is no order."""
    for identifier in ("child_ok", "", "\udcff\u00e9x" * 1000):
        read_end, write_end = os.pipe()
        one = spare.Spare(pid=0, order=write_end, connected=None, modules=())
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the reading side, as a spare
            os.close(write_end)
            got = spare._await_order(read_end, os.getppid())
            (tmp_path / "got").write_bytes(repr(got).encode())
            os._exit(0)
        os.close(read_end)
        assert one.hand_over(identifier)
        os.waitpid(pid, 0)
        assert (tmp_path / "got").read_bytes() == repr(identifier).encode()
    read_end, write_end = os.pipe()
    os.write(write_end, spare._LENGTH.pack(10) + b"short")
    os.close(write_end)
    try:
        assert spare._await_order(read_end, os.getppid()) is None
    finally:
        os.close(read_end)
