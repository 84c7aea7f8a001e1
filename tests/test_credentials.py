"""Peer credentials: a registration counts only from a peer of the master's uid whose pid
is the SO_PEERCRED pid of the socket it sent; anything else is refused, saying why."""

from __future__ import annotations

import os

import pytest
from fake_slaves.harness import no_leaks
from test_hostile import GRACE, STEP, hostile_command

from zeus_fsm.master.loop import Master
from zeus_fsm.protocol.errors import CredentialsMismatch, Role

DIALECTS = ("spec", "zeus")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_same_uid_and_pid_of_the_peer_is_accepted(dialect: str) -> None:
    with no_leaks() as roots, Master(hostile_command(dialect), dialect) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        child = master.spawn(root, "ok")
        assert root.ok and child.ok
        for slave in (root, child):
            assert slave.pid == slave.peer_pid  # P agrees with SO_PEERCRED
            assert slave.expect.uid == os.getuid()
        assert child.pid != root.pid


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("behaviour", "words"), [
    ("pid_not_peer", ["P says pid", "SO_PEERCRED of its socket says"]),
    ("socket_made_by_parent", ["P says pid", "SO_PEERCRED of its socket says"]),
    ("master_socket_back", ["made by pid", "not in the slaves' process group"]),
])
def test_a_pid_that_is_not_the_peers_is_refused(dialect: str, behaviour: str,
                                                words: list[str]) -> None:
    with Master(hostile_command(dialect), dialect, step_timeout=STEP,
                kill_grace=GRACE) as master:
        root = master.boot_root()
        bad = master.spawn(root, behaviour)
        assert [(type(e), e.requirement, e.culprit) for e in bad.errors] == [
            (CredentialsMismatch, "PID-2", Role.SLAVE)]
        message = str(bad.errors[0])
        assert all(word in message for word in words), message
        assert bad.registered_at is None  # never registered
        assert master.spawn(root, "ok").ok


@pytest.mark.skipif(os.getuid() != 0, reason="only root can start a slave of another uid")
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_peer_of_another_uid_is_refused(dialect: str) -> None:
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    with no_leaks() as roots, Master(hostile_command(dialect), dialect, step_timeout=STEP,
                                     kill_grace=GRACE) as master:
        root = master.boot_root()
        roots.append(root.pid or 0)
        bad = master.spawn(root, "other_uid")
        assert [(type(e), e.requirement, e.culprit) for e in bad.errors] == [
            (CredentialsMismatch, "PID-6", Role.SLAVE)]
        message = str(bad.errors[0])
        assert f"uid {nobody}" in message and f"master's is {os.getuid()}" in message, message
        assert bad.registered_at is None and bad.lifecycle.state == "stopped"
        assert master.spawn(root, "ok").ok
