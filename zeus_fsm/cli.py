"""`zeus-fsm`: the command line. Each subcommand imports its machinery lazily.

Exit codes, everywhere: 0 success, 1 a rule was broken (or a check failed),
2 usage errors and set-up failures.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import cast

import click

from zeus_fsm import __version__
from zeus_fsm.transport.processes import DIALECT_ENV

DIALECT_OPTION = click.option(
    "--dialect", type=click.Choice(["spec", "zeus"]), default="spec", show_default=True,
    envvar=DIALECT_ENV, help="Wire dialect: the seed document (spec) or today's Zeus.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="zeus-fsm")
def main() -> None:
    """zeus_fsm: the Zeus master/slave handshake as an explicit state machine."""


@main.command()
@DIALECT_OPTION
@click.option("--pipe", is_flag=True, help="zeus: decode the loaded-files pipe, not the stream.")
@click.option("--runner", is_flag=True,
              help="zeus: a command's runner socket, as the master reads it (the command's P, "
                   "then the exit status).")
@click.option("--header", is_flag=True,
              help="zeus: the header datagram a runner reads first (one CHUNK).")
@click.option("--arguments", "argc", type=click.IntRange(min=0), default=None, metavar="ARGC",
              help="zeus: what a command's arguments fd yields up to its end of file, judged "
                   "against ARGC arguments.")
@click.argument("chunks", nargs=-1, required=True)
def decode(dialect: str, pipe: bool, runner: bool, header: bool, argc: int | None,
           chunks: tuple[str, ...]) -> None:
    """Decode wire bytes into messages, one JSON object per line.

    Each CHUNK is bytes written with Python escapes ('P:12:0:boot\\0'). In spec
    each chunk is one datagram; in zeus the chunks are consecutive reads of one
    stream (or, with --pipe, of the loaded-files pipe; with --runner, --header or
    --arguments, of the command path: spec/handshake.md section 9).
    """
    from zeus_fsm.protocol.dialects import get_dialect
    from zeus_fsm.protocol.errors import ProtocolError, Role
    from zeus_fsm.protocol.escapes import parse_escaped
    from zeus_fsm.protocol.messages import Message, to_json

    wire = get_dialect(dialect)
    chosen = [name for name, on in (("--pipe", pipe), ("--runner", runner),
                                    ("--header", header), ("--arguments", argc is not None))
              if on]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} exclude each other: one channel at a "
                               "time")
    if pipe and not wire.files_on_pipe:
        raise click.UsageError("--pipe needs --dialect zeus: spec has no loaded-files pipe")
    if chosen and chosen != ["--pipe"] and not wire.runs_commands:
        raise click.UsageError(f"{chosen[0]} needs --dialect zeus: the seed defines no wire "
                               "for commands")
    try:
        data = [parse_escaped(chunk) for chunk in chunks]
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    if chosen and chosen != ["--pipe"]:
        _decode_command(data, runner, header, argc)
        return

    def emit(messages: list[Message]) -> None:
        for message in messages:
            # ASCII JSON: a non-UTF-8 path byte is a lone surrogate (\udcNN), which no
            # UTF-8 stdout can print raw.
            click.echo(json.dumps(to_json(message)))

    try:
        if pipe:
            lines = wire.pipe_decoder()
            for chunk in data:
                batch = lines.feed(chunk)
                emit([batch] if batch else [])
            lines.close()
        else:
            channel = wire.channel_decoder(Role.SLAVE)
            for chunk in data:
                emit(channel.feed(chunk))
            channel.close()
    except ProtocolError as error:
        emit([cast(Message, m) for m in error.salvaged])
        click.echo(f"zeus-fsm decode: {error}", err=True)
        sys.exit(1)


def _decode_command(data: list[bytes], runner: bool, header: bool, argc: int | None) -> None:
    """`decode --runner/--header/--arguments`: the command path's codecs (zeus)."""
    from zeus_fsm.protocol import command_wire
    from zeus_fsm.protocol.errors import ProtocolError
    from zeus_fsm.protocol.messages import CommandArguments, CommandMessage, command_to_json

    def emit(messages: Iterable[object]) -> None:
        for message in messages:
            click.echo(json.dumps(command_to_json(
                cast(CommandMessage | CommandArguments, message))))

    try:
        if runner:
            decoder = command_wire.RunnerDecoder()
            for chunk in data:
                emit(decoder.feed(chunk))
            decoder.close()
        elif header:
            if len(data) != 1:
                raise click.UsageError("--header takes one CHUNK: the header is one datagram")
            emit([command_wire.decode_header(data[0])])
        else:
            assert argc is not None
            emit([command_wire.decode_arguments(b"".join(data), argc)])
    except ProtocolError as error:
        emit(error.salvaged)
        click.echo(f"zeus-fsm decode: {error}", err=True)
        sys.exit(1)


@main.group()
def spec() -> None:
    """The machine-readable spec: spec/machine.json."""


@spec.command("export")
@click.option("--out", type=click.Path(path_type=Path), default=Path("spec/machine.json"),
              show_default=True)
@click.option("--check", is_flag=True,
              help="Exit 1 if the file differs from a fresh export (write nothing).")
def spec_export(out: Path, check: bool) -> None:
    """Export the machine's tables and the requirements as JSON."""
    from zeus_fsm.views.export import render

    fresh = render()
    if check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != fresh:
            click.echo(f"{out} is stale: run `zeus-fsm spec export` and commit it", err=True)
            sys.exit(1)
        click.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(fresh, encoding="utf-8")
    click.echo(f"wrote {out}")


from zeus_fsm.views.command import diagrams_command  # noqa: E402

main.add_command(diagrams_command)

from zeus_fsm.trace.command import trace_command  # noqa: E402

main.add_command(trace_command)

from zeus_fsm.conformance.command import check  # noqa: E402

main.add_command(check)

from zeus_fsm.start.command import start_command  # noqa: E402

main.add_command(start_command)

from zeus_fsm.start.run_command import run_command  # noqa: E402

main.add_command(run_command)

if __name__ == "__main__":  # pragma: no cover
    main()
