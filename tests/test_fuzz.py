"""Fuzzing: arbitrary bytes into every decoder, arbitrary events into the Handshake and the
master's SlaveSession. Only ProtocolError may escape.

Each property runs twice: briefly in the default run (the hypothesis profile's examples),
and, marked `fuzz`, with ZEUS_FSM_FUZZ_EXAMPLES examples each (skipped when unset). CI:

    ZEUS_FSM_FUZZ_EXAMPLES=2000 .venv/bin/pytest -m fuzz tests/test_fuzz.py
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zeus_fsm.master.session import STEP_PHASES, SlaveSession
from zeus_fsm.protocol.dialects import DIALECT_NAMES, MAX_MESSAGE, get_dialect
from zeus_fsm.protocol.errors import ProtocolError, Role
from zeus_fsm.protocol.events import (
    ChannelClosed,
    Deadline,
    Event,
    FdKind,
    PipeClosed,
    PipePassed,
    SocketPassed,
)
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import ActionResult, LoadedFiles, PidIdentifier, SpawnSlave

LONG_EXAMPLES = int(os.environ.get("ZEUS_FSM_FUZZ_EXAMPLES", "0"))
PID, PARENT, UID = 4242, 4000, os.getuid()

dialects = st.sampled_from(DIALECT_NAMES)
senders = st.sampled_from(list(Role))
# Bytes near the wire's shape find more than uniform noise: letters, colons, NULs, digits.
wireish = st.lists(st.sampled_from([b"P:", b"R:", b"F:", b"S:", b"C:", b"OK", b":", b"\0",
                                    b"\n", b"/", b"4242", b"0", b"-1", b"boot", b"\xff",
                                    b"x" * 300]) | st.binary(max_size=40),
                   max_size=12).map(b"".join)
chunks = st.lists(wireish | st.binary(max_size=200), max_size=8)


def both(body: Callable[..., None], *strategies: Any) -> tuple[Callable[[], None], ...]:
    """The default-run test and the long `fuzz` test of one property."""
    # given() over strategies typed Any is untyped to mypy: say what it makes.
    decorate = cast(Callable[[Callable[..., None]], Callable[[], None]], given(*strategies))
    short = decorate(body)
    long_settings = settings(max_examples=max(LONG_EXAMPLES, 1), deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])
    long = pytest.mark.fuzz(pytest.mark.skipif(
        not LONG_EXAMPLES, reason="set ZEUS_FSM_FUZZ_EXAMPLES for the long profile")(
        long_settings(decorate(body))))
    return short, long


# ---- decoders ------------------------------------------------------------------------------


def decode_frame_only_protocol_errors(name: str, sender: Role, frame: bytes) -> None:
    wire = get_dialect(name)
    if wire.name == "zeus":
        frame = frame.replace(b"\0", b"")  # the stream decoder never hands over a NUL
    try:
        message = wire.decode_frame(frame, sender)
    except ProtocolError as error:
        assert error.culprit is sender and error.requirement
        return
    # What decodes re-encodes to the same frame (zeus adds its NUL); a pid may lose zeros.
    encoded = wire.encode(message)
    assert (encoded[:-1] if wire.name == "zeus" else encoded) == frame \
        or frame.startswith(b"P:")


def channel_decoder_only_protocol_errors(name: str, sender: Role, parts: list[bytes]) -> None:
    decoder = get_dialect(name).channel_decoder(sender)
    for part in parts:
        try:
            decoder.feed(part)
        except ProtocolError as error:
            assert all(not isinstance(m, ProtocolError) for m in error.salvaged)
        assert decoder.buffered <= MAX_MESSAGE  # an unterminated frame cannot grow forever
    with contextlib.suppress(ProtocolError):
        decoder.close()


def pipe_decoder_only_protocol_errors(parts: list[bytes]) -> None:
    decoder = get_dialect("zeus").pipe_decoder()
    kept: list[bytes] = []
    for part in parts:
        try:
            batch = decoder.feed(part)
        except ProtocolError as error:
            batch = next((m for m in error.salvaged if isinstance(m, LoadedFiles)), None)
        if batch is not None:
            kept.extend(batch.paths)
    with contextlib.suppress(ProtocolError):
        decoder.close()
    assert all(p.startswith(b"/") and b"\n" not in p and b"\0" not in p for p in kept)


test_decode_frame, test_decode_frame_long = both(
    decode_frame_only_protocol_errors, dialects, senders, wireish)
test_channel_decoder, test_channel_decoder_long = both(
    channel_decoder_only_protocol_errors, dialects, senders, chunks)
test_pipe_decoder, test_pipe_decoder_long = both(pipe_decoder_only_protocol_errors, chunks)


# ---- the Handshake -------------------------------------------------------------------------

kinds = st.lists(st.sampled_from(list(FdKind)), max_size=3).map(tuple)
pids = st.sampled_from([PID, PID + 1, 1, None])
messages = st.one_of(
    st.builds(PidIdentifier, pid=st.sampled_from([PID, PID + 1, 1]),
              identifier=st.sampled_from(["", "boot", "child", "other"]),
              parent_pid=st.sampled_from([None, 0, PARENT])),
    st.sampled_from([ActionResult(), ActionResult("boom\n")]),
    st.lists(st.sampled_from([b"/a.rb", b"/b/\xff.rb"]), min_size=1, max_size=3)
    .map(LoadedFiles.of),
    st.sampled_from([SpawnSlave("child")]),
)
events: st.SearchStrategy[Event] = st.one_of(
    messages,
    st.builds(SocketPassed, kinds, st.sampled_from([b"\0", b"", b"x"]), pids,
              st.sampled_from([UID, UID + 1, None])),
    st.builds(PipePassed, kinds),
    st.just(ChannelClosed()), st.just(PipeClosed()), st.just(Deadline(0.5)),
)
expectations = st.builds(Expectation, identifier=st.sampled_from([None, "", "boot", "child"]),
                         parent_pid=st.sampled_from([None, 0, PARENT]),
                         pid=st.sampled_from([None, PID]), uid=st.sampled_from([None, UID]))


def handshake_only_protocol_errors(name: str, expect: Expectation, feed: list[Event]) -> None:
    machine = Handshake(get_dialect(name), expect)
    for event in feed:
        if isinstance(event, Deadline) and machine.phase not in (*STEP_PHASES, "crashed"):
            continue  # the master arms a deadline only while a step waits (a caller bug else)
        if isinstance(event, PidIdentifier) and \
                (event.parent_pid is not None) != machine.dialect.has_parent_pid:
            continue  # no decoder makes the other dialect's P (a caller bug else)
        before = machine.describe_state()
        try:
            machine.handle(event)
        except ProtocolError as error:
            assert machine.phase == "broken" and error.requirement and error.state
            assert error.state in (before, "broken") or before in error.state
    assert machine.phase in ("socket", "pid", "pipe", "action", "connected", "crashed",
                             "closed", "broken")


test_handshake, test_handshake_long = both(
    handshake_only_protocol_errors, dialects, expectations, st.lists(events, max_size=12))


# ---- the master's session: bytes after a valid registration --------------------------------


def session_only_protocol_errors(name: str, stream: list[bytes], pipe: list[bytes]) -> None:
    wire = get_dialect(name)
    session = SlaveSession(1, "child", wire, Expectation(identifier="child", uid=UID,
                           parent_pid=PARENT if wire.has_parent_pid else None))
    session.lifecycle.fire("start")
    try:
        session.feed_socket((FdKind.UNIX_STREAM if wire.files_on_pipe else FdKind.UNIX_DGRAM,),
                            b"\0", PID, UID)
        p = PidIdentifier(PID, "child", PARENT if wire.has_parent_pid else None)
        if wire.files_on_pipe:
            session.feed_stream(wire.encode(p))
            session.fd_passed((FdKind.FIFO,))
        else:
            session.feed_datagrams([wire.encode(p)])
    except ProtocolError as error:  # pragma: no cover - the registration above is valid
        raise AssertionError(error) from error
    for index, data in enumerate([*stream, *pipe]):
        try:
            if index >= len(stream):
                session.feed_pipe(data) if wire.files_on_pipe else session.feed_datagrams([data])
            elif wire.files_on_pipe:
                session.feed_stream(data)
            else:
                session.feed_datagrams([data])
        except ProtocolError:
            break
    assert all(p.startswith(b"/") for p in session.loaded_files)


test_session, test_session_long = both(session_only_protocol_errors, dialects, chunks, chunks)
