"""The Master runs commands (zeus): C, the runner socket, header and fds, P, the status.

Against the reference slave (the demo plan's `zcheck`) for what must work, and against
the fake slave's broken runners for what must end in a bounded, named error.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence

import attrs
import pytest
from fake_slaves.harness import fake_command, my_children, no_leaks, open_fds

from zeus_fsm.master.commands import CommandRun
from zeus_fsm.master.loop import Master
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.protocol.errors import MalformedMessage, ProtocolError
from zeus_fsm.transport.drain import read_to_eof
from zeus_fsm.transport.processes import descendants, process_exists, process_table

PLAN = "zeus_fsm.examples.demo:DemoPlan"
STEP = 2.0  # a broken runner is caught within this (and no longer)
LONG = 10.0


def reference() -> list[str]:
    return [sys.executable, "-m", "zeus_fsm.slave", "--plan", PLAN, "--dialect", "zeus"]


@attrs.define
class Outcome:
    run: CommandRun
    stdout: bytes
    stderr: bytes
    seconds: float


@pytest.fixture
def client() -> Iterator[int]:
    """A live process to stand for the client (the runner watches its pid)."""
    process = subprocess.Popen(["sleep", "600"])
    yield process.pid
    process.kill()
    process.wait(LONG)


def start(master: Master, slave: SlaveSession, client: int, name: str,
          args: Sequence[bytes] = (), stdin: bytes = b"") -> tuple[CommandRun, socket.socket,
                                                                   socket.socket]:
    """As a client would: the arguments socketpair written and closed, stdin to EOF."""
    args_ours, args_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    out_ours, out_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    err_ours, err_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    run = master.start_command(slave, name, client, (args_theirs.detach(), out_theirs.detach(),
                                                     err_theirs.detach()), len(args))
    with args_ours:
        args_ours.sendall(b"".join(arg + b"\0" for arg in args))
    out_ours.sendall(stdin)
    out_ours.shutdown(socket.SHUT_WR)
    return run, out_ours, err_ours


def finish(master: Master, run: CommandRun, out: socket.socket,
           err: socket.socket, timeout: float = LONG) -> Outcome:
    began = time.monotonic()
    assert master.wait_command(run, timeout), f"{run.describe()} is still {run.machine.state}"
    seconds = time.monotonic() - began
    with out, err:
        stdout = read_to_eof(out.fileno(), LONG, 1 << 20) if run.error is None else b""
        stderr = read_to_eof(err.fileno(), LONG, 1 << 20) if run.error is None else b""
    return Outcome(run, stdout, stderr, seconds)


def command(master: Master, slave: SlaveSession, client: int, name: str,
            args: Sequence[bytes] = (), stdin: bytes = b"") -> Outcome:
    return finish(master, *start(master, slave, client, name, args, stdin))


# ---- the reference slave --------------------------------------------------------------


@pytest.fixture
def booted() -> Iterator[tuple[Master, SlaveSession]]:
    with no_leaks() as roots, Master(reference(), "zeus", step_timeout=LONG) as master:
        root = master.boot_root()
        assert root.ok, root.errors
        roots.append(root.pid or 0)
        yield master, root


@pytest.mark.parametrize(("args", "stdin", "status", "stdout", "stderr"), [
    ([b"exit", b"3"], b"", 3, b"", b""),
    ([b"argv", b"a", b"", b"b c", b"\xff", b""], b"", 0, b"a\0\0b c\0\xff\0\0", b""),
    ([b"stderr", b"oops"], b"", 0, b"", b"oops"),
    ([b"cat"], b"line1\nline2\0bin\xff", 0, b"line1\nline2\0bin\xff", b""),
    ([b"kill", b"15"], b"", 128 + signal.SIGTERM, b"", b""),
])
def test_a_command_runs_with_its_arguments_fds_and_status(
        booted: tuple[Master, SlaveSession], client: int, args: list[bytes], stdin: bytes,
        status: int, stdout: bytes, stderr: bytes) -> None:
    master, root = booted
    outcome = command(master, root, client, "zcheck", args, stdin)
    assert outcome.run.error is None, outcome.run.error
    assert (outcome.run.status, outcome.stdout, outcome.stderr) == (status, stdout, stderr)
    assert outcome.run.pid not in (None, root.pid, outcome.run.machine.runner_pid)
    assert root.ok and root.handshake.phase == "connected"


def test_two_commands_at_once_go_one_c_at_a_time(booted: tuple[Master, SlaveSession],
                                                 client: int) -> None:
    master, root = booted
    first = start(master, root, client, "zcheck", [b"sleep", b"0.3"])
    second = start(master, root, client, "zcheck", [b"exit", b"7"])
    assert (finish(master, *second).run.status, finish(master, *first).run.status) == (7, 0)


def test_two_hundred_commands_leave_no_fd_and_no_process(
        booted: tuple[Master, SlaveSession], client: int) -> None:
    master, root = booted
    command(master, root, client, "zcheck", [b"exit", b"0"])  # warm-up: lazy imports
    gc.collect()  # sockets an earlier test dropped: closed now, not during the count
    fds, children = len(open_fds()), len(my_children())
    slave_tree = len(_descendants(root.pid or 0))
    statuses = [command(master, root, client, "zcheck", [b"exit", str(n % 7).encode()])
                .run.status for n in range(200)]
    assert statuses == [n % 7 for n in range(200)]
    assert (len(open_fds()), len(my_children())) == (fds, children)
    assert master.commands.live == []
    _wait(lambda: len(_descendants(root.pid or 0)) <= slave_tree)  # runners reaped
    assert len(_descendants(root.pid or 0)) <= slave_tree


def test_commands_are_refused_in_the_spec_dialect(client: int) -> None:
    with no_leaks() as roots, Master([*reference()[:-1], "spec"], "spec") as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        fds = (os.open(os.devnull, os.O_RDONLY), os.open(os.devnull, os.O_RDONLY),
               os.open(os.devnull, os.O_RDONLY))
        with pytest.raises(ProtocolError) as refused:
            master.start_command(root, "zcheck", client, fds, 0)
        assert refused.value.requirement == "SPAWN-4"
        assert all(not _is_open(fd) for fd in fds)  # the master took them and closed them


# ---- broken runners (the fake slave) ------------------------------------------------------


@pytest.mark.parametrize(("name", "requirement", "error_class", "slave_survives"), [
    ("runner_never", "CMD-2", ProtocolError, False),  # the real master hangs for ever
    ("runner_dies", "CMD-8", ProtocolError, True),  # the real master hangs for ever
    ("runner_hangs", "CMD-5", ProtocolError, True),
    ("bad_p", "CMD-5", MalformedMessage, True),  # the real master panics and dies
    ("stray_p", "CMD-5", ProtocolError, True),  # a P naming pid 1: not below the slave
])
def test_a_broken_runner_ends_in_a_bounded_named_error(
        client: int, name: str, requirement: str, error_class: type[ProtocolError],
        slave_survives: bool) -> None:
    with no_leaks() as roots, Master(fake_command("zeus"), "zeus", step_timeout=STEP) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        outcome = command(master, root, client, name)
        error = outcome.run.error
        assert isinstance(error, error_class) and error.requirement == requirement, error
        assert outcome.seconds < 2 * STEP + 1.0  # bounded by one step, not for ever
        assert root.lifecycle.live == slave_survives, root.errors
        if slave_survives:  # the slave itself broke no rule: it serves the next command
            good = command(master, root, client, "ok")
            assert (good.run.status, good.stdout) == (3, b"ok")
        runner = outcome.run.machine.runner_pid
        if runner is not None:  # a broken runner is killed, never left behind
            _wait(lambda: not process_exists(runner))
            assert not process_exists(runner)


def test_a_command_forked_further_below_the_slave_is_accepted(client: int) -> None:
    """CMD-5 asks for a process below the slave, not for the runner's child: a runner
    that forks twice is within the rule (and so within the master's own tree)."""
    with no_leaks() as roots, Master(fake_command("zeus"), "zeus", step_timeout=STEP) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        outcome = command(master, root, client, "grandchild_command")
        assert outcome.run.error is None, outcome.run.error
        assert (outcome.run.status, outcome.stdout) == (3, b"ok")


def _descendants(pid: int) -> set[int]:
    return descendants([pid], process_table())


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _wait(done: object, seconds: float = 5.0) -> None:
    end = time.monotonic() + seconds
    while not done() and time.monotonic() < end:  # type: ignore[operator]
        time.sleep(0.01)
