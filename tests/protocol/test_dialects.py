"""The two wire dialects: round trips, arbitrary input, re-chunking, size caps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeus_fsm.protocol.dialects import (
    MAX_MESSAGE,
    MAX_PATH_LINE,
    SPEC_DIALECT,
    ZEUS_DIALECT,
    Dialect,
    get_dialect,
)
from zeus_fsm.protocol.errors import FrameTooLarge, MalformedMessage, ProtocolError, Role
from zeus_fsm.protocol.messages import (
    PID_MAX,
    ActionResult,
    LoadedFiles,
    Message,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.protocol.requirements import BY_ID

# ---- strategies ----------------------------------------------------------------------

CLEAN_CHARS = st.characters(codec="utf-8", exclude_characters="\0\n")
identifiers = st.text(CLEAN_CHARS, max_size=40)
child_identifiers = st.text(CLEAN_CHARS, min_size=1, max_size=40)
pids = st.integers(1, PID_MAX)
paths = st.binary(max_size=60).map(lambda b: b"/" + b.replace(b"\0", b"").replace(b"\n", b""))
# Error texts come from bytes, as a decoder sees them (any byte but NUL, which zeus frames
# cannot carry); surrogateescape keeps non-UTF-8 bytes.
error_texts = (st.binary(min_size=1, max_size=200)
               .map(lambda b: b.replace(b"\0", b"").decode("utf-8", "surrogateescape"))
               .filter(lambda t: t not in ("", "OK")))


def messages_for(wire: Dialect) -> st.SearchStrategy[Message]:
    """Every message the channel of `wire` carries (zeus loaded files travel on the pipe)."""
    parent = st.just(0) | pids if wire.has_parent_pid else st.none()
    options: list[st.SearchStrategy[Message]] = [
        st.builds(PidIdentifier, pids, identifiers, parent),
        st.just(ActionResult()),
        st.builds(ActionResult, error_texts),
        st.builds(SpawnSlave, child_identifiers),
        st.builds(SpawnCommand, child_identifiers),
    ]
    if not wire.files_on_pipe:
        options.append(st.builds(lambda p: LoadedFiles((p,)), paths))
    return st.one_of(options)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given offsets (any, sorted here), including empty pieces."""
    points = sorted(c % (len(data) + 1) for c in cuts)
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


cut_lists = st.lists(st.integers(min_value=0), max_size=12)


def decode_stream(wire: Dialect, chunks: list[bytes], sender: Role = Role.SLAVE
                  ) -> tuple[list[Message], ProtocolError | None]:
    decoder = wire.channel_decoder(sender)
    out: list[Message] = []
    try:
        for chunk in chunks:
            out.extend(decoder.feed(chunk))
        decoder.close()
    except ProtocolError as error:
        out.extend(error.salvaged)  # type: ignore[arg-type]
        return out, error
    return out, None


def decode_pipe(chunks: list[bytes]) -> tuple[list[bytes], ProtocolError | None]:
    decoder = ZEUS_DIALECT.pipe_decoder()
    found: list[bytes] = []
    try:
        for chunk in chunks:
            batch = decoder.feed(chunk)
            found.extend(batch.paths if batch else ())
        decoder.close()
    except ProtocolError as error:
        for salvaged in error.salvaged:
            assert isinstance(salvaged, LoadedFiles)
            found.extend(salvaged.paths)
        return found, error
    return found, None


def assert_well_formed(error: ProtocolError, sender: Role) -> None:
    assert isinstance(error, MalformedMessage)
    assert error.requirement in BY_ID
    assert error.culprit is sender
    assert str(error).startswith(f"{sender.value} broke {error.requirement}")


# ---- round trips -----------------------------------------------------------------------


@given(st.data())
def test_every_message_round_trips_in_spec(data: st.DataObject) -> None:
    message = data.draw(messages_for(SPEC_DIALECT))
    assert SPEC_DIALECT.channel_decoder(Role.SLAVE).feed(SPEC_DIALECT.encode(message)) == [
        message]


@given(st.data())
def test_every_message_round_trips_in_zeus(data: st.DataObject) -> None:
    message = data.draw(messages_for(ZEUS_DIALECT))
    wire = ZEUS_DIALECT.encode(message)
    assert wire.endswith(b"\0") and wire.count(b"\0") == 1
    assert ZEUS_DIALECT.channel_decoder(Role.SLAVE).feed(wire) == [message]


@given(st.lists(paths, min_size=1, max_size=30))
def test_loaded_files_round_trip_on_the_zeus_pipe(batch: list[bytes]) -> None:
    message = LoadedFiles(batch)
    assert ZEUS_DIALECT.pipe_decoder().feed(ZEUS_DIALECT.encode(message)) == message


# ---- arbitrary input ---------------------------------------------------------------------

TOKENS = [b"P:", b"R:", b"F:", b"S:", b"C:", b"X:", b"\0", b"\n", b":", b"1", b"0", b"42",
          b"OK", b"/a.rb", b"boot", b"\xff", b"\xc3\xa9", b"-", b" "]
wireish = st.lists(st.sampled_from(TOKENS), max_size=30).map(b"".join)
any_bytes = st.binary(max_size=200) | wireish
senders = st.sampled_from(list(Role))


@given(any_bytes, senders)
def test_arbitrary_datagram_gives_a_message_or_protocol_error(datagram: bytes,
                                                              sender: Role) -> None:
    try:
        out = SPEC_DIALECT.channel_decoder(sender).feed(datagram)
    except ProtocolError as error:
        assert_well_formed(error, sender)
        return
    assert len(out) == 1


@given(st.lists(any_bytes, max_size=6), senders)
def test_arbitrary_stream_gives_messages_or_protocol_error(chunks: list[bytes],
                                                           sender: Role) -> None:
    _, error = decode_stream(ZEUS_DIALECT, chunks, sender)
    if error is not None:
        assert_well_formed(error, sender)


@given(st.lists(any_bytes, max_size=6))
def test_arbitrary_pipe_bytes_give_paths_or_protocol_error(chunks: list[bytes]) -> None:
    found, error = decode_pipe(chunks)
    if error is not None:
        assert_well_formed(error, Role.SLAVE)
    assert all(p.startswith(b"/") and b"\n" not in p and b"\0" not in p for p in found)


@given(wireish, cut_lists)
def test_arbitrary_stream_decodes_the_same_however_it_is_read(stream: bytes,
                                                              cuts: list[int]) -> None:
    whole, whole_error = decode_stream(ZEUS_DIALECT, [stream])
    pieces, pieces_error = decode_stream(ZEUS_DIALECT, split(stream, cuts))
    assert pieces == whole
    assert type(pieces_error) is type(whole_error)
    if whole_error is not None and pieces_error is not None:
        assert pieces_error.requirement == whole_error.requirement


# ---- re-chunking valid input ---------------------------------------------------------------


@given(st.data(), st.lists(st.integers(0, 3), max_size=10), cut_lists)
def test_valid_zeus_stream_decodes_identically_however_it_is_read(
        data: st.DataObject, empties: list[int], cuts: list[int]) -> None:
    sent = data.draw(st.lists(messages_for(ZEUS_DIALECT), max_size=10))
    # FRAME-2: empty frames may sit anywhere between messages
    gaps = [b"\0" * empties[i % len(empties)] if empties else b"" for i in range(len(sent))]
    stream = b"".join(gap + ZEUS_DIALECT.encode(m) for gap, m in zip(gaps, sent, strict=True))
    assert decode_stream(ZEUS_DIALECT, split(stream, cuts)) == (sent, None)


@given(st.lists(paths, max_size=30), cut_lists)
def test_valid_pipe_decodes_identically_however_it_is_read(batch: list[bytes],
                                                           cuts: list[int]) -> None:
    data = b"".join(p + b"\n" for p in batch)
    assert decode_pipe(split(data, cuts)) == (batch, None)


@given(st.integers(1, 3 * MAX_PATH_LINE), cut_lists)
def test_pipe_line_cap_does_not_depend_on_reads(length: int, cuts: list[int]) -> None:
    data = b"/" + b"a" * (length - 1) + b"\n"
    whole = decode_pipe([data])
    pieces = decode_pipe(split(data, cuts))
    assert type(whole[1]) is type(pieces[1])
    assert (whole[1] is None) == (length <= MAX_PATH_LINE)
    assert isinstance(whole[1], FrameTooLarge | type(None))


# ---- size caps (FRAME-3) -------------------------------------------------------------------


def result_of(size: int) -> ActionResult:
    """An error result whose message (R: and text) is `size` bytes."""
    return ActionResult("x" * (size - 2))


@pytest.mark.parametrize("wire", [SPEC_DIALECT, ZEUS_DIALECT], ids=["spec", "zeus"])
def test_largest_message_round_trips_and_one_more_byte_is_refused(wire: Dialect) -> None:
    largest = result_of(MAX_MESSAGE)
    encoded = wire.encode(largest)
    assert len(encoded) == MAX_MESSAGE + (1 if wire.name == "zeus" else 0)
    assert wire.channel_decoder(Role.SLAVE).feed(encoded) == [largest]
    with pytest.raises(ValueError, match="FRAME-3"):
        wire.encode(result_of(MAX_MESSAGE + 1))
    too_big = b"R:" + b"x" * (MAX_MESSAGE - 1) + (b"\0" if wire.name == "zeus" else b"")
    with pytest.raises(FrameTooLarge) as caught:
        wire.channel_decoder(Role.SLAVE).feed(too_big)
    assert caught.value.requirement == "FRAME-3"
    assert "65537 bytes in all" in str(caught.value)  # offending bytes shown, truncated


def test_unterminated_zeus_frame_is_refused_once_past_the_cap() -> None:
    decoder = ZEUS_DIALECT.channel_decoder(Role.SLAVE)
    assert decoder.feed(b"R:OK\0R:" + b"x" * (MAX_MESSAGE - 2)) == [ActionResult()]
    assert decoder.buffered == MAX_MESSAGE  # at the cap a frame may still end
    with pytest.raises(FrameTooLarge) as caught:
        decoder.feed(b"x")
    assert caught.value.requirement == "FRAME-3"
    assert decoder.buffered == 0  # nothing grows without bound


def test_truncate_error_fits_the_cap(dialect: Dialect) -> None:
    text = "line\n" * 20_000
    cut = dialect.truncate_error(text)
    assert cut.endswith("\n[truncated]\n")
    encoded = dialect.encode(ActionResult(cut))
    assert len(encoded) <= MAX_MESSAGE + 1
    assert dialect.channel_decoder(Role.SLAVE).feed(encoded) == [ActionResult(cut)]
    assert dialect.truncate_error("short\n") == "short\n"


# ---- encoder refusals and dialect facts ----------------------------------------------------


def test_zeus_refuses_a_nul_inside_a_frame() -> None:
    with pytest.raises(ValueError, match="NUL"):
        ZEUS_DIALECT.encode(ActionResult("a\0b"))
    assert SPEC_DIALECT.encode(ActionResult("a\0b")) == b"R:a\0b"  # one datagram: fine


def test_p_shape_must_match_the_dialect() -> None:
    with pytest.raises(ValueError, match="needs parent pid"):
        ZEUS_DIALECT.encode(PidIdentifier(5, "boot"))
    with pytest.raises(ValueError, match="has no parent pid"):
        SPEC_DIALECT.encode(PidIdentifier(5, "", 0))


def test_wire_bytes_of_each_dialect() -> None:
    assert SPEC_DIALECT.encode(PidIdentifier(1235, "")) == b"P:1235:"
    assert ZEUS_DIALECT.encode(PidIdentifier(4628, "child_ok", 4605)) == b"P:4628:4605:child_ok\0"
    assert ZEUS_DIALECT.encode(ActionResult()) == b"R:OK\0"
    assert SPEC_DIALECT.encode(LoadedFiles((b"/a.rb",))) == b"F:/a.rb"
    assert ZEUS_DIALECT.encode(LoadedFiles((b"/a.rb", b"/b.rb"))) == b"/a.rb\n/b.rb\n"
    assert ZEUS_DIALECT.encode(SpawnSlave("c")) == b"S:c\0"
    assert SPEC_DIALECT.encode(SpawnCommand("c")) == b"C:c"
    with pytest.raises(ValueError, match="one by one"):
        SPEC_DIALECT.encode(LoadedFiles((b"/a", b"/b")))


def test_dialect_lookup() -> None:
    assert get_dialect("spec") is SPEC_DIALECT
    assert get_dialect("zeus") is ZEUS_DIALECT
    with pytest.raises(ValueError, match="unknown dialect"):
        get_dialect("ruby")
    with pytest.raises(ValueError, match="no loaded-files pipe"):
        SPEC_DIALECT.pipe_decoder()


# ---- errors: salvage and what they show -----------------------------------------------------


def test_stream_error_salvages_earlier_frames_and_keeps_the_rest() -> None:
    decoder = ZEUS_DIALECT.channel_decoder(Role.SLAVE)
    with pytest.raises(MalformedMessage) as caught:
        decoder.feed(b"P:1:0:boot\0X:1\0R:OK\0R:O")
    assert caught.value.salvaged == (PidIdentifier(1, "boot", 0),)
    assert caught.value.data == b"X:1"
    assert decoder.feed(b"K\0") == [ActionResult(), ActionResult()]


def test_master_is_blamed_for_bad_s() -> None:
    with pytest.raises(MalformedMessage) as caught:
        ZEUS_DIALECT.channel_decoder(Role.MASTER).feed(b"S:\0")
    assert caught.value.culprit is Role.MASTER
    assert caught.value.requirement == "FRAME-5"


def test_error_report_is_safe_and_complete() -> None:
    with pytest.raises(MalformedMessage) as caught:
        SPEC_DIALECT.channel_decoder(Role.SLAVE).feed(b"P:abc:\xff" + b"z" * 200)
    error = caught.value
    assert error.with_state("pid") is error
    error.with_state("socket")  # the first state sticks
    report = error.as_dict()
    assert report["error"] == "MalformedMessage"
    assert report["requirement"] == "FRAME-4"
    assert report["state"] == "pid"
    assert report["culprit"] == "slave"
    assert "pid field" in str(report["reason"])
    assert "(207 bytes in all)" in str(report["data"])
    assert "in state pid" in str(error)
