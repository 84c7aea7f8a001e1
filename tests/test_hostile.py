"""The Master against a catalogue of hostile slaves (tests/hostile/, see its README.md).

Each entry is one misbehaviour of a child slave. For each: the exact diagnostic
class and requirement, within the step timeout (plus a margin), every fd the
master received for it closed as soon as it is stopped, no process of it left,
and the same Master then serves a good child.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from fake_slaves.harness import no_leaks

from zeus_fsm.errors import BadDescriptor, CredentialsMismatch, Role
from zeus_fsm.master import Master

HOSTILE = Path(__file__).parent / "hostile" / "slave.py"
STEP = 0.3  # step timeout: short, far above a real step on an idle machine
GRACE = 0.2  # SIGTERM -> SIGKILL
MARGIN = 1.0  # scheduling slack on a loaded 2-core machine


def hostile_command(dialect: str, root: str = "ok") -> list[str]:
    return [sys.executable, str(HOSTILE), dialect, root]


@pytest.mark.parametrize("dialect", ["spec"])
def test_master_socket_sent_back_is_refused_and_the_master_signals_nobody(dialect: str) -> None:
    """A slave that sends the master's own socket as its socket: SO_PEERCRED names the
    master's process. Stopping that "slave" once made the master SIGTERM itself."""
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        bad = master.spawn(root, "master_socket_back")
        assert [type(e) for e in bad.errors] == [CredentialsMismatch]
        assert bad.errors[0].requirement == "PID-2" and bad.errors[0].culprit is Role.SLAVE
        assert str(os.getpid()) in bad.errors[0].reason
        assert bad.lifecycle.state == "stopped"
        assert master.spawn(root, "ok").ok  # and we are still alive to see it


def test_zeus_pipe_write_end_is_refused_not_read() -> None:
    """The write end of a pipe is a FIFO too; reading it raised EBADF out of the Master."""
    with no_leaks() as roots, Master(hostile_command("zeus"), "zeus", step_timeout=STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        bad = master.spawn(root, "pipe_write_end")
        assert [(type(e), e.requirement) for e in bad.errors] == [(BadDescriptor, "CHAN-1")]
        assert "write end" in bad.errors[0].reason
        assert bad.lifecycle.state == "stopped"
        assert master.spawn(root, "ok").ok
