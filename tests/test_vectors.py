"""Every entry of spec/vectors/*.json, run through the decoders and through `zeus-fsm decode`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from zeus_fsm.cli import main
from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.dialects import get_dialect
from zeus_fsm.protocol.errors import ProtocolError, Role
from zeus_fsm.protocol.escapes import parse_escaped
from zeus_fsm.protocol.messages import Message, command_to_json, to_json

VECTORS = Path(__file__).resolve().parents[1] / "spec" / "vectors"
FILES = ("spec", "zeus")
SECTIONS = ("valid", "invalid", "pipe_valid", "pipe_invalid")
#: zeus only: the command path (runner socket, header, arguments fd).
COMMAND_SECTIONS = ("runner_valid", "runner_invalid", "header_valid", "header_invalid",
                    "arguments_valid", "arguments_invalid")
DOCS: dict[str, dict[str, Any]] = {
    name: json.loads((VECTORS / f"{name}.json").read_text(encoding="utf-8")) for name in FILES
}
ENTRIES = [(name, section, entry) for name, doc in DOCS.items()
           for section in SECTIONS for entry in doc.get(section, [])]


def chunk_bytes(chunk: str | list[list[Any]]) -> bytes:
    """A chunk: one escaped string, or [escaped, times] pairs concatenated."""
    if isinstance(chunk, str):
        return parse_escaped(chunk)
    return b"".join(parse_escaped(text) * times for text, times in chunk)


def chunk_arg(chunk: str | list[list[Any]]) -> str:
    """The same chunk as one `zeus-fsm decode` argument."""
    return chunk if isinstance(chunk, str) else "".join(text * times for text, times in chunk)


def decode(dialect_name: str, pipe: bool, chunks: list[bytes]
           ) -> tuple[list[dict[str, object]], ProtocolError | None]:
    """Decode as the vectors' format says: feed every chunk, then end the input."""
    wire = get_dialect(dialect_name)
    out: list[Message] = []
    try:
        if pipe:
            lines = wire.pipe_decoder()
            for chunk in chunks:
                batch = lines.feed(chunk)
                out.extend([batch] if batch else [])
            lines.close()
        else:
            channel = wire.channel_decoder(Role.SLAVE)
            for chunk in chunks:
                out.extend(channel.feed(chunk))
            channel.close()
    except ProtocolError as error:
        out.extend(error.salvaged)  # type: ignore[arg-type]
        return [to_json(m) for m in out], error
    return [to_json(m) for m in out], None


def check_entry(dialect_name: str, section: str, entry: dict[str, Any]) -> None:
    got, error = decode(dialect_name, section.startswith("pipe_"),
                        [chunk_bytes(c) for c in entry["chunks"]])
    if section.endswith("invalid"):
        assert error is not None, f"{entry['name']}: decoded without error to {got}"
        assert type(error).__name__ == entry["error"]
        assert error.requirement == entry["requirement"]
        assert error.culprit is Role.SLAVE
        assert got == entry["messages_before"]
    else:
        assert error is None, f"{entry['name']}: {error}"
        assert got == entry["messages"]


def test_files_declare_their_dialect_and_only_known_sections() -> None:
    for name, doc in DOCS.items():
        assert doc["dialect"] == name
        assert "format" in doc
        assert set(doc) - {"format", "dialect"} <= set(SECTIONS) | set(
            COMMAND_SECTIONS if name == "zeus" else ())
    assert set(DOCS["spec"]) >= {"valid", "invalid"}
    assert set(DOCS["zeus"]) >= set(SECTIONS) | set(COMMAND_SECTIONS)


@pytest.mark.parametrize(("dialect_name", "section", "entry"), ENTRIES,
                         ids=[f"{n}-{s}-{e['name']}" for n, s, e in ENTRIES])
def test_vector(dialect_name: str, section: str, entry: dict[str, Any]) -> None:
    check_entry(dialect_name, section, entry)


def test_every_entry_in_the_files_is_run() -> None:
    ran = 0
    for name, section, entry in ENTRIES:
        check_entry(name, section, entry)
        ran += 1
    in_files = sum(len(doc.get(section, [])) for doc in DOCS.values() for section in SECTIONS)
    assert ran == in_files
    names = [(n, s, e["name"]) for n, s, e in ENTRIES]
    assert len(set(names)) == len(names), "entry names are unique within a section"


CLI_ENTRIES = [(n, s, e) for n, s, e in ENTRIES if e["chunks"]]  # the CLI needs one chunk


@pytest.mark.parametrize(("dialect_name", "section", "entry"), CLI_ENTRIES,
                         ids=[f"{n}-{s}-{e['name']}" for n, s, e in CLI_ENTRIES])
def test_vector_through_the_cli(dialect_name: str, section: str, entry: dict[str, Any]) -> None:
    args = ["decode", "--dialect", dialect_name]
    if section.startswith("pipe_"):
        args.append("--pipe")
    result = CliRunner().invoke(main, [*args, "--", *map(chunk_arg, entry["chunks"])])
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    if section.endswith("invalid"):
        assert result.exit_code == 1, result.output
        assert entry["requirement"] in result.stderr
        assert printed == entry["messages_before"]
    else:
        assert result.exit_code == 0, result.output
        assert printed == entry["messages"]


MESSAGE_KINDS = {"pid", "result-ok", "result-error", "files", "spawn", "command"}


def _kinds(messages: list[dict[str, Any]]) -> set[str]:
    return {m["type"] + ("-ok" if m.get("ok") else "-error") if m["type"] == "result"
            else m["type"] for m in messages}


def test_valid_vectors_cover_every_message_type() -> None:
    spec_kinds = set().union(*(_kinds(e["messages"]) for e in DOCS["spec"]["valid"]))
    assert spec_kinds == MESSAGE_KINDS
    zeus_kinds = set().union(*(_kinds(e["messages"]) for e in DOCS["zeus"]["valid"]))
    assert zeus_kinds == MESSAGE_KINDS - {"files"}  # zeus files travel on the pipe
    pipe_kinds = set().union(*(_kinds(e["messages"]) for e in DOCS["zeus"]["pipe_valid"]))
    assert pipe_kinds == {"files"}


def test_invalid_vectors_cover_every_decode_error() -> None:
    def cited(doc: dict[str, Any], section: str) -> set[tuple[str, str]]:
        return {(e["error"], e["requirement"]) for e in doc[section]}

    malformed = "MalformedMessage"
    assert cited(DOCS["spec"], "invalid") == {
        (malformed, "FRAME-1"), (malformed, "FRAME-4"), (malformed, "FRAME-5"),
        (malformed, "RESULT-3"), (malformed, "FILES-1"), ("FrameTooLarge", "FRAME-3")}
    assert cited(DOCS["zeus"], "invalid") == {
        (malformed, "FRAME-1"), (malformed, "FRAME-2"), (malformed, "FRAME-4"),
        (malformed, "FRAME-5"), (malformed, "RESULT-3"), (malformed, "FILES-5"),
        ("FrameTooLarge", "FRAME-3")}
    assert cited(DOCS["zeus"], "pipe_invalid") == {
        (malformed, "FILES-1"), (malformed, "FILES-5"), ("FrameTooLarge", "FILES-5")}


# ---- the command path (zeus) ------------------------------------------------------------

COMMAND_ENTRIES = [(section, entry) for section in COMMAND_SECTIONS
                   for entry in DOCS["zeus"][section]]


def decode_command(section: str, entry: dict[str, Any]
                   ) -> tuple[list[dict[str, object]], ProtocolError | None]:
    chunks = [chunk_bytes(c) for c in entry["chunks"]]
    out: list[dict[str, object]] = []
    try:
        if section.startswith("runner_"):
            decoder = command_wire.RunnerDecoder()
            for chunk in chunks:
                out.extend(command_to_json(m) for m in decoder.feed(chunk))
            decoder.close()
        elif section.startswith("header_"):
            assert len(chunks) == 1, "a header is one datagram"
            out.append(command_to_json(command_wire.decode_header(chunks[0])))
        else:
            out.append(command_to_json(command_wire.decode_arguments(b"".join(chunks),
                                                                     entry["argc"])))
    except ProtocolError as error:
        out.extend(command_to_json(m) for m in error.salvaged)  # type: ignore[arg-type]
        return out, error
    return out, None


@pytest.mark.parametrize(("section", "entry"), COMMAND_ENTRIES,
                         ids=[f"zeus-{s}-{e['name']}" for s, e in COMMAND_ENTRIES])
def test_command_vector(section: str, entry: dict[str, Any]) -> None:
    got, error = decode_command(section, entry)
    if section.endswith("invalid"):
        assert error is not None, f"{entry['name']}: decoded without error to {got}"
        assert type(error).__name__ == entry["error"]
        assert error.requirement == entry["requirement"]
        wanted = Role.SLAVE if section.startswith("runner_") else Role.MASTER
        assert error.culprit is wanted
        assert got == entry["messages_before"]
    else:
        assert error is None, f"{entry['name']}: {error}"
        assert got == entry["messages"]


def test_command_vectors_cover_every_decode_error() -> None:
    def cited(section: str) -> set[tuple[str, str]]:
        return {(e["error"], e["requirement"]) for e in DOCS["zeus"][section]}

    malformed = "MalformedMessage"
    assert cited("runner_invalid") == {
        (malformed, "CMD-5"), (malformed, "CMD-7"), (malformed, "FRAME-4"),
        (malformed, "FRAME-2"), ("FrameTooLarge", "FRAME-3")}
    assert cited("header_invalid") == {(malformed, "CMD-3"), (malformed, "FRAME-4")}
    assert cited("arguments_invalid") == {(malformed, "CMD-4"), ("FrameTooLarge", "CMD-4")}


def test_command_vectors_encode_back_to_their_bytes() -> None:
    """A valid entry's messages encode to exactly its bytes, less any empty frames."""
    for section, entry in COMMAND_ENTRIES:
        if section.endswith("invalid") or section.startswith("arguments_"):
            continue
        got, _ = decode_command(section, entry)
        data = b"".join(chunk_bytes(c) for c in entry["chunks"])
        messages = command_wire.RunnerDecoder().feed(data) if section.startswith("runner_") \
            else [command_wire.decode_header(data)]
        frames = b"".join(frame + b"\0" for frame in data.split(b"\0") if frame)
        assert b"".join(map(command_wire.encode, messages)) == frames, entry["name"]
        assert got == [command_to_json(m) for m in messages]


def command_cli_args(section: str, entry: dict[str, Any]) -> list[str]:
    option = {"runner": ["--runner"], "header": ["--header"],
              "arguments": ["--arguments", str(entry.get("argc", 0))]}[section.split("_")[0]]
    chunks = [chunk_arg(c) for c in entry["chunks"]] or [""]  # an empty read: no bytes
    return ["decode", "--dialect", "zeus", *option, "--", *chunks]


@pytest.mark.parametrize(("section", "entry"), COMMAND_ENTRIES,
                         ids=[f"zeus-{s}-{e['name']}" for s, e in COMMAND_ENTRIES])
def test_command_vector_through_the_cli(section: str, entry: dict[str, Any]) -> None:
    result = CliRunner().invoke(main, command_cli_args(section, entry))
    printed = [json.loads(line) for line in result.stdout.splitlines()]
    if section.endswith("invalid"):
        assert result.exit_code == 1, result.output
        assert entry["requirement"] in result.stderr
        assert printed == entry["messages_before"]
    else:
        assert result.exit_code == 0, result.output
        assert printed == entry["messages"]
