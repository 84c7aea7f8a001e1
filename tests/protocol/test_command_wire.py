"""The command path's messages and codecs (zeus): round trips, and bad bytes refused with
the sender and the requirement they break (the vectors hold the wire examples)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.errors import FrameTooLarge, MalformedMessage, Role
from zeus_fsm.protocol.messages import (
    MAX_ARGC,
    PID_MAX,
    CommandArguments,
    CommandPid,
    ExitStatus,
    FieldError,
    RunnerHeader,
    command_to_json,
)

pids = st.integers(1, PID_MAX)
codes = st.integers(0, 255)
arguments = st.lists(st.binary().filter(lambda b: b"\0" not in b), max_size=8)


@given(pids, st.integers(0, MAX_ARGC))
def test_header_round_trips(client_pid: int, argc: int) -> None:
    header = RunnerHeader(client_pid, argc)
    assert command_wire.decode_header(command_wire.encode(header)) == header


@given(pids, pids, codes, st.integers(1, 5))
def test_runner_socket_round_trips_however_datagrams_split(pid: int, slave_pid: int,
                                                            code: int, pieces: int) -> None:
    data = command_wire.encode(CommandPid(pid, slave_pid)) + command_wire.encode(
        ExitStatus(code))
    decoder = command_wire.RunnerDecoder()
    size = max(1, len(data) // pieces)
    got = [m for i in range(0, len(data), size) for m in decoder.feed(data[i:i + size])]
    decoder.close()
    assert got == [CommandPid(pid, slave_pid), ExitStatus(code)]


@given(arguments)
def test_arguments_round_trip_empty_and_non_utf8_kept(args: list[bytes]) -> None:
    data = command_wire.encode_arguments(args)
    assert command_wire.decode_arguments(data, len(args)).args == tuple(args)


def test_arguments_of_the_real_wire() -> None:
    assert command_wire.encode_arguments([b"a", b""]) == b"a\0\0"
    assert command_wire.decode_arguments(b"a\0\0", 2) == CommandArguments((b"a", b""))
    assert command_wire.decode_arguments(b"", 0) == CommandArguments(())


@pytest.mark.parametrize(("build", "requirement"), [
    (lambda: RunnerHeader(0, 1), "FRAME-4"),
    (lambda: RunnerHeader(1, -1), "CMD-3"),
    (lambda: RunnerHeader(1, MAX_ARGC + 1), "CMD-3"),
    (lambda: RunnerHeader(1, True), "CMD-3"),
    (lambda: CommandPid(PID_MAX + 1, 1), "FRAME-4"),
    (lambda: CommandPid(5, 0), "FRAME-4"),
    (lambda: ExitStatus(256), "CMD-7"),
    (lambda: ExitStatus(-1), "CMD-7"),
    (lambda: ExitStatus("3"), "CMD-7"),  # type: ignore[arg-type]
    (lambda: CommandArguments((b"a\0b",)), "CMD-4"),
    (lambda: CommandArguments(("text",)), "CMD-4"),  # type: ignore[arg-type]
])
def test_messages_validate_their_fields(build: object, requirement: str) -> None:
    with pytest.raises(FieldError) as caught:
        build()  # type: ignore[operator]
    assert caught.value.requirement == requirement


def test_encode_arguments_refuses_a_nul_inside() -> None:
    with pytest.raises(FieldError):
        command_wire.encode_arguments([b"a\0"])


def test_header_errors_blame_the_master_and_show_the_bytes() -> None:
    with pytest.raises(MalformedMessage) as caught:
        command_wire.decode_header(b"1:2:3\0")
    assert (caught.value.culprit, caught.value.requirement) == (Role.MASTER, "CMD-3")
    assert "b'1:2:3\\x00'" in str(caught.value)
    with pytest.raises(FrameTooLarge):
        command_wire.decode_header(b"1" * 70_000 + b"\0")


def test_runner_errors_blame_the_slave_and_keep_what_came_before() -> None:
    decoder = command_wire.RunnerDecoder()
    with pytest.raises(MalformedMessage) as caught:
        decoder.feed(b"P:7:5:\0P:7:5\0")
    assert (caught.value.culprit, caught.value.requirement) == (Role.SLAVE, "CMD-7")
    assert caught.value.salvaged == (CommandPid(7, 5),)


def test_real_zeus_panics_on_three_fields_we_name_the_rule() -> None:
    with pytest.raises(MalformedMessage, match="four fields, the identifier empty") as caught:
        command_wire.RunnerDecoder().feed(b"P:16301:16225\0")
    assert caught.value.requirement == "CMD-5"


def test_json_views() -> None:
    assert command_to_json(RunnerHeader(9, 2)) == {"type": "header", "client_pid": 9, "argc": 2}
    assert command_to_json(CommandPid(7, 5)) == {"type": "command_pid", "pid": 7, "slave_pid": 5}
    assert command_to_json(ExitStatus(3)) == {"type": "exit_status", "code": 3}
    assert command_to_json(CommandArguments((b"\xff",))) == {"type": "arguments",
                                                             "args": ["\udcff"]}


wireish = st.lists(st.sampled_from([b"P:", b":", b"\0", b"1", b"0", b"255", b"4194305", b"x",
                                    b"\xff", b"-"]), max_size=12).map(b"".join)


@given(st.lists(wireish | st.binary(max_size=20), max_size=5), st.integers(0, 4))
def test_decoders_raise_only_protocol_errors(chunks: list[bytes], argc: int) -> None:
    """Whatever the bytes, a decoder gives messages or a ProtocolError, nothing else."""
    from zeus_fsm.protocol.errors import ProtocolError

    decoder = command_wire.RunnerDecoder()
    try:
        for chunk in chunks:
            decoder.feed(chunk)
        decoder.close()
    except ProtocolError as error:
        assert error.culprit is Role.SLAVE
    for chunk in chunks:
        for decode in (command_wire.decode_header,
                       lambda data: command_wire.decode_arguments(data, argc)):
            try:
                decode(chunk)
            except ProtocolError as error:
                assert error.culprit is Role.MASTER
