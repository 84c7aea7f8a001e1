"""The client path on .zeus.sock: its vectors, its codecs and its machine, row by row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from zeus_fsm.protocol import client_wire
from zeus_fsm.protocol.client import (
    CLIENT_REJECTIONS,
    CLIENT_STATES,
    CLIENT_TRANSITIONS,
    ClientEvent,
    ClientExchange,
    ClientExpectation,
    ClientFdPassed,
    ClientVanished,
    MasterClosed,
)
from zeus_fsm.protocol.errors import ProtocolError, Role
from zeus_fsm.protocol.escapes import parse_escaped
from zeus_fsm.protocol.events import Deadline, FdKind
from zeus_fsm.protocol.messages import (
    CommandRequest,
    CommandStarted,
    ExitStatus,
    client_to_json,
)

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "spec" / "vectors" / "client.json")
                     .read_text(encoding="utf-8"))
SECTIONS = ("request_valid", "request_invalid", "reply_valid", "reply_invalid")
ENTRIES = [(section, entry) for section in SECTIONS for entry in VECTORS[section]]


def chunk_bytes(chunk: str | list[list[Any]]) -> bytes:
    if isinstance(chunk, str):
        return parse_escaped(chunk)
    return b"".join(parse_escaped(text) * times for text, times in chunk)


def decode(section: str, entry: dict[str, Any]
           ) -> tuple[list[dict[str, object]], ProtocolError | None]:
    decoder = (client_wire.RequestDecoder() if section.startswith("request")
               else client_wire.ReplyDecoder())
    out: list[dict[str, object]] = []
    try:
        for chunk in entry["chunks"]:
            out.extend(client_to_json(m) for m in decoder.feed(chunk_bytes(chunk)))
        decoder.close()
    except ProtocolError as error:
        out.extend(client_to_json(m) for m in error.salvaged)  # type: ignore[arg-type]
        return out, error
    return out, None


@pytest.mark.parametrize(("section", "entry"), ENTRIES,
                         ids=[f"{s}-{e['name']}" for s, e in ENTRIES])
def test_client_vector(section: str, entry: dict[str, Any]) -> None:
    got, error = decode(section, entry)
    if section.endswith("invalid"):
        assert error is not None, f"{entry['name']}: decoded without error to {got}"
        assert (type(error).__name__, error.requirement) == (entry["error"],
                                                             entry["requirement"])
        assert error.culprit is (Role.CLIENT if section.startswith("request") else Role.MASTER)
        assert got == entry["messages_before"]
    else:
        assert error is None, f"{entry['name']}: {error}"
        assert got == entry["messages"]


def test_valid_vectors_encode_back_to_their_bytes() -> None:
    for section, entry in ENTRIES:
        if section.endswith("invalid"):
            continue
        data = b"".join(chunk_bytes(c) for c in entry["chunks"])
        decoder = (client_wire.RequestDecoder() if section.startswith("request")
                   else client_wire.ReplyDecoder())
        messages = decoder.feed(data)
        frames = b"".join(frame + b"\0" for frame in data.split(b"\0") if frame)
        assert b"".join(map(client_wire.encode, messages)) == frames, entry["name"]


# ---- the machine ------------------------------------------------------------------------

REQUEST = CommandRequest(2, 4242, "hello")
STREAM = ClientFdPassed((FdKind.UNIX_STREAM,))
TTY = ClientFdPassed((FdKind.TERMINAL,))
#: One event that takes each transition row, from that row's source state.
FOR_ROW: dict[tuple[str, str], ClientEvent] = {
    ("request", "request"): REQUEST,
    ("fd", "arguments"): STREAM,
    ("fd", "stdout"): TTY,
    ("fd", "stderr"): STREAM,
    ("pid", "starting"): CommandStarted(4250),
    ("crashed", "starting"): CommandStarted(0),
    ("status", "running"): ExitStatus(3),
    ("status", "crashed"): ExitStatus(1),
    ("close", "exited"): MasterClosed(),
    ("vanish", "exited"): ClientVanished(),
    ("vanish", "running"): ClientVanished(),
}
#: The events that lead from the start to each state.
PATH: dict[str, list[ClientEvent]] = {
    "request": [],
    "arguments": [REQUEST],
    "stdout": [REQUEST, STREAM],
    "stderr": [REQUEST, STREAM, TTY],
    "starting": [REQUEST, STREAM, TTY, STREAM],
    "running": [REQUEST, STREAM, TTY, STREAM, CommandStarted(4250)],
    "crashed": [REQUEST, STREAM, TTY, STREAM, CommandStarted(0)],
    "exited": [REQUEST, STREAM, TTY, STREAM, CommandStarted(4250), ExitStatus(0)],
}
#: One event per trigger, to try where no row allows it.
ANY: dict[str, ClientEvent] = {
    "request": REQUEST, "fd": STREAM, "pid": CommandStarted(4250),
    "crashed": CommandStarted(0), "status": ExitStatus(0), "vanish": ClientVanished(),
    "close": MasterClosed(), "timeout": Deadline(5.0),
}


def at(state: str) -> ClientExchange:
    exchange = ClientExchange(ClientExpectation(peer_pid=4242))
    exchange.handle_all(PATH[state])
    assert exchange.state == state
    return exchange


@pytest.mark.parametrize("row", CLIENT_TRANSITIONS, ids=lambda r: f"{r.trigger}@{r.source}")
def test_every_transition_row_is_taken(row: Any) -> None:
    moved: list[tuple[str, str, str]] = []
    exchange = at(row.source)
    exchange._on_transition = lambda b, t, a, _row: moved.append((b, t, a))
    exchange.handle(FOR_ROW[(row.trigger, row.source)])
    assert moved == [(row.source, row.trigger,
                      row.source if row.dest == "=" else row.dest)]


@pytest.mark.parametrize("state", list(PATH))
@pytest.mark.parametrize("trigger", list(ANY))
def test_every_refused_pair_names_its_rejection_row(state: str, trigger: str) -> None:
    exchange = at(state)
    if any(t.source == state and t.trigger == trigger for t in CLIENT_TRANSITIONS):
        return  # allowed: taken above
    row = exchange.rejection(trigger)
    if row is None:  # a timeout where nothing is awaited: a caller error, said plainly
        assert trigger == "timeout"
        with pytest.raises(ValueError):
            exchange.handle(ANY[trigger])
        return
    with pytest.raises(ProtocolError) as raised:
        exchange.handle(ANY[trigger])
    assert raised.value.requirement == row.requirement
    assert exchange.state == "broken" and exchange.error is raised.value


def broken() -> ClientExchange:
    exchange = ClientExchange()
    with pytest.raises(ProtocolError):
        exchange.handle(ExitStatus(0))
    return exchange


def test_every_rejection_row_is_reachable() -> None:
    exchanges = [at(state) for state in PATH] + [broken()]
    used = {(row.trigger, row.source) for exchange in exchanges for trigger in ANY
            if (row := exchange.rejection(trigger)) is not None}
    assert {(r.trigger, r.source) for r in CLIENT_REJECTIONS} == used


def test_states_are_the_tables() -> None:
    assert {s.name for s in CLIENT_STATES} == {*PATH, "closed", "gone", "broken"}


def test_a_client_that_lies_about_its_pid_is_refused() -> None:
    with pytest.raises(ProtocolError) as raised:
        ClientExchange(ClientExpectation(peer_pid=99)).handle(REQUEST)
    assert (raised.value.culprit, raised.value.requirement) == (Role.CLIENT, "CLIENT-1")


@pytest.mark.parametrize(("state", "event", "requirement"), [
    ("arguments", ClientFdPassed((FdKind.FIFO,)), "CLIENT-2"),
    ("arguments", ClientFdPassed((FdKind.UNIX_STREAM, FdKind.UNIX_STREAM)), "CLIENT-2"),
    ("stdout", ClientFdPassed((FdKind.REGULAR_FILE,)), "CLIENT-3"),
    ("stderr", ClientFdPassed((FdKind.UNIX_STREAM,), payload=b"\0\0"), "CLIENT-3"),
    ("crashed", ExitStatus(0), "CLIENT-6"),
])
def test_guards_name_the_rule(state: str, event: ClientEvent, requirement: str) -> None:
    with pytest.raises(ProtocolError) as raised:
        at(state).handle(event)
    assert raised.value.requirement == requirement


def test_a_master_that_closes_before_the_pid_knows_no_such_command() -> None:
    with pytest.raises(ProtocolError) as raised:
        at("starting").handle(MasterClosed())
    assert (raised.value.culprit, raised.value.requirement) == (Role.MASTER, "CLIENT-8")


def test_waiting_for_the_pid_too_long_is_the_masters_fault() -> None:
    with pytest.raises(ProtocolError) as raised:
        at("starting").handle(Deadline(5.0))
    assert (raised.value.culprit, raised.value.requirement) == (Role.MASTER, "CLIENT-4")
    with pytest.raises(ProtocolError) as raised:
        at("stdout").handle(Deadline(5.0))
    assert raised.value.culprit is Role.CLIENT


def test_records_named_like_triggers_read_none_until_their_message() -> None:
    """`transitions` binds trigger methods over None attributes; the records must win."""
    from zeus_fsm.protocol.command import Command

    exchange, command = ClientExchange(), Command()
    assert (exchange.request, exchange.pid, exchange.status) == (None, None, None)
    assert (command.pid, command.header, command.status) == (None, None, None)
    exchange.handle_all(PATH["running"])
    assert (exchange.request, exchange.pid) == (REQUEST, 4250)
