"""SlaveConnection: the rules the master and the checker share, tested without any I/O."""

from __future__ import annotations

import pytest

from zeus_fsm.protocol.connection import SlaveConnection
from zeus_fsm.protocol.dialects import Dialect, get_dialect
from zeus_fsm.protocol.errors import MalformedMessage, ProtocolError, Role, UnexpectedEvent
from zeus_fsm.protocol.events import Event, FdKind, PipePassed
from zeus_fsm.protocol.machine import Expectation
from zeus_fsm.protocol.messages import ActionResult, LoadedFiles, PidIdentifier, SpawnSlave

ZEUS = get_dialect("zeus")
SPEC = get_dialect("spec")
PID = 4605


def registered(dialect: Dialect, **hooks: object) -> SlaveConnection:
    """A root connection past its socket (and, in zeus, P and the pipe)."""
    connection = SlaveConnection(
        dialect, Expectation(identifier=dialect.root_identifier, pid=PID,
                             parent_pid=0 if dialect.has_parent_pid else None),
        **hooks)  # type: ignore[arg-type]
    connection.socket_passed((dialect.slave_socket_kind,), dialect.socket_payload, PID, None)
    return connection


def p_frame(dialect: Dialect) -> bytes:
    return dialect.encode(PidIdentifier(PID, dialect.root_identifier,
                                        0 if dialect.has_parent_pid else None))


def test_zeus_messages_before_a_bad_frame_are_delivered_then_it_is_raised() -> None:
    connection = registered(ZEUS)
    with pytest.raises(MalformedMessage) as raised:
        connection.received(p_frame(ZEUS) + b"Q:what\0")
    assert connection.pid == PID  # P, decoded before the bad frame, was not lost
    assert raised.value.culprit is Role.SLAVE
    assert raised.value.state is not None  # the decoder's error names where it surfaced


def test_zeus_pipe_lines_before_a_bad_line_are_delivered() -> None:
    connection = registered(ZEUS)
    connection.received(p_frame(ZEUS))
    connection.fd_passed((FdKind.FIFO,))
    with pytest.raises(ProtocolError) as raised:
        connection.pipe_received(b"/app/a.rb\n/app/b.rb\nrelative.rb\n")
    assert connection.loaded_files == [b"/app/a.rb", b"/app/b.rb"]
    assert raised.value.requirement == "FILES-1"


def test_spec_datagrams_before_a_bad_one_are_delivered() -> None:
    connection = registered(SPEC)
    with pytest.raises(MalformedMessage):
        connection.datagrams([p_frame(SPEC), b"R:OK", b"no colon here"])
    assert connection.pid == PID
    assert connection.result == ActionResult()


@pytest.mark.parametrize("dialect", [SPEC, ZEUS], ids=["spec", "zeus"])
def test_a_slave_that_sends_s_breaks_frame_1_as_the_slave(dialect: Dialect) -> None:
    connection = registered(dialect)
    with pytest.raises(UnexpectedEvent) as raised:
        connection.received(dialect.encode(SpawnSlave("child")))
    assert (raised.value.culprit, raised.value.requirement) == (Role.SLAVE, "FRAME-1")
    assert raised.value.data == dialect.encode(SpawnSlave("child"))


def test_consecutive_file_messages_reach_the_handshake_as_one_batch() -> None:
    fed: list[Event] = []
    connection = registered(SPEC, on_event=fed.append)
    connection.datagrams([p_frame(SPEC), b"R:OK", b"F:/a", b"F:/b", b"F:/c"])
    batches = [event for event in fed if isinstance(event, LoadedFiles)]
    assert batches == [LoadedFiles((b"/a", b"/b", b"/c"))]
    assert connection.files_after_result == [b"/a", b"/b", b"/c"]


def test_a_path_reported_twice_is_counted_and_kept_to_show_once_recorded() -> None:
    connection = registered(SPEC)
    connection.datagrams([p_frame(SPEC), b"F:/a", b"R:OK", b"F:/a"])
    assert connection.loaded_files == [b"/a"]
    assert (connection.duplicate_files, connection.repeated_files) == (1, [b"/a"])
    assert connection.files_after_result == []  # a repeat is no new file


def test_a_deadline_with_part_of_a_frame_buffered_is_frame_2() -> None:
    connection = registered(ZEUS)
    connection.received(b"P:46")
    with pytest.raises(MalformedMessage) as raised:
        connection.deadline_passed(5.0)
    assert raised.value.requirement == "FRAME-2"
    assert b"P:46" in (raised.value.data or b"")


def test_a_deadline_with_nothing_buffered_is_the_step_the_handshake_waits_for() -> None:
    connection = registered(ZEUS)
    with pytest.raises(ProtocolError) as raised:
        connection.deadline_passed(5.0)
    assert raised.value.requirement == "PID-1"


def test_the_master_sending_s_is_recorded_and_encoded() -> None:
    connection = registered(ZEUS)
    connection.received(p_frame(ZEUS))
    connection.fd_passed((FdKind.FIFO,))
    connection.received(b"R:OK\0")
    assert connection.phase == "connected"
    assert connection.sending(SpawnSlave("child")) == b"S:child\0"


def test_accepted_events_are_reported_after_they_are_recorded() -> None:
    seen: list[tuple[Event, int | None]] = []
    made: list[SlaveConnection] = []

    def accepted(event: Event) -> None:
        seen.append((event, made[0].pid if made else None))

    made.append(registered(ZEUS, on_accepted=accepted))
    made[0].received(p_frame(ZEUS))
    assert seen[-1] == (PidIdentifier(PID, "boot", 0), PID)


def test_an_fd_in_spec_is_refused() -> None:
    connection = registered(SPEC)
    connection.received(p_frame(SPEC))
    with pytest.raises(ProtocolError):
        connection.feed(PipePassed((FdKind.FIFO,)))
