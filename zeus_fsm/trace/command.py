"""`zeus-fsm trace`: narrate one live handshake (the teaching view)."""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from zeus_fsm.transport.processes import DIALECT_ENV

if TYPE_CHECKING:
    from zeus_fsm.master.observe import ObservedEvent


@click.command("trace")
@click.option("--dialect", type=click.Choice(["spec", "zeus"]), default="spec",
              show_default=True, envvar=DIALECT_ENV, help="Wire dialect.")
@click.option("--mermaid", "mermaid_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the sequence diagram of this run (Mermaid) here.")
@click.option("--svg", "svg_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the state diagram with the path taken highlighted (needs dot).")
@click.option("--html", "html_out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the illustrated page of this run here: one self-contained HTML "
                   "file (needs dot).")
@click.option("--deterministic", is_flag=True,
              help="With --html: one slave at a time, pids, times and paths normalized "
                   "(how the committed examples in docs/ are made).")
@click.option("--check", is_flag=True,
              help="With --html: write nothing; exit 1 if the file differs from this run's "
                   "page (the drift check of the committed examples).")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=5.0, show_default=True,
              help="Seconds the master waits for each step.")
@click.option("--spawn", "children", multiple=True, metavar="IDENTIFIER",
              help="Send S:<IDENTIFIER> to the root once connected (repeatable). "
                   "Default with the reference slave: child_ok, child_fail, child_lazy.")
@click.option("--run", "runs", multiple=True, metavar="'NAME ARGS'",
              help="zeus: then run this command on the root, as a client would "
                   "(repeatable; split like a shell). Default with the reference slave: "
                   "'hello a b'.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def trace_command(dialect: str, mermaid_out: Path | None, svg_out: Path | None,
                  html_out: Path | None, deterministic: bool, check: bool,
                  timeout: float, children: tuple[str, ...], runs: tuple[str, ...],
                  command: tuple[str, ...]) -> None:
    """Run the master against a slave and narrate the handshake as it happens.

    Without COMMAND (given after `--`), the bundled reference slave boots with
    its demo plan. Each line shows the bytes on the wire, the transition they
    caused, the requirement they satisfy and the elapsed time. A violation stops
    the narration with its diagnostic and exits 1.

    `--html FILE` also writes the illustrated page of the run; with
    `--deterministic --check` it only compares (the narration is not printed).
    """
    from zeus_fsm.examples.demo import EXPECTED_FILES
    from zeus_fsm.protocol.dialects import get_dialect
    from zeus_fsm.trace.narrator import DEMO_CHILDREN, reference_slave, run_trace

    if (deterministic or check) and html_out is None:
        raise click.UsageError("--deterministic and --check go with --html FILE")
    wire = get_dialect(dialect)
    argv = list(command) or reference_slave(dialect)
    spawns = children or (DEMO_CHILDREN if not command else ())
    # The demo runs one command after the handshakes (zeus; spec has no commands).
    default_runs = ("hello a b",) if not command else ()
    words = [[os.fsencode(word) for word in shlex.split(text)] for text in runs or default_runs]
    # the demo plan says which files each action loads: wait for them (lazy ones too)
    expected = None if command else EXPECTED_FILES
    dot = _need_dot(html_out) if html_out is not None else None
    try:
        run = run_trace(argv, wire, spawns, (lambda _: None) if check else click.echo,
                        step_timeout=timeout, expected_files=expected,
                        one_at_a_time=deterministic, commands=[w for w in words if w])
    except OSError as error:
        click.echo(f"zeus-fsm trace: cannot start {argv[0]}: {error}", err=True)
        sys.exit(2)
    _write_views(run.events, dialect, mermaid_out, svg_out)
    if html_out is not None and dot is not None:
        _write_page(run.events, dialect, html_out, dot, deterministic, check)
    if run.violation is not None:
        sys.exit(1)


def _need_dot(target: Path) -> str:
    from zeus_fsm.views.build import find_dot

    dot = find_dot()
    if dot is None:
        click.echo("zeus-fsm trace: Graphviz `dot` not found (apt-get install graphviz); "
                   f"{target} not written", err=True)
        sys.exit(2)
    return dot


def _write_page(events: Sequence[ObservedEvent], dialect: str, target: Path, dot: str,
                deterministic: bool, check: bool) -> None:
    from zeus_fsm.protocol.dialects import get_dialect
    from zeus_fsm.trace.page import render_page

    page = render_page(events, get_dialect(dialect), dot, deterministic=deterministic)
    if check:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
        if current != page:
            click.echo(f"stale or missing: {target}", err=True)
            click.echo("(its diagram's layout also depends on the Graphviz version and fonts, "
                       "as diagrams/*.svg do)", err=True)
            click.echo(f"run `zeus-fsm trace --dialect {dialect} --html {target}"
                       f"{' --deterministic' if deterministic else ''}` and commit the result",
                       err=True)
            sys.exit(1)
        click.echo(f"{target} is up to date")
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    click.echo(f"wrote {target}")


def _write_views(events: Sequence[ObservedEvent], dialect: str, mermaid_out: Path | None,
                 svg_out: Path | None) -> None:
    from zeus_fsm.trace.views import highlighted_dot, sequence_of
    from zeus_fsm.views.build import DotFailed, find_dot, render_svg

    if mermaid_out is not None:
        mermaid_out.write_text(sequence_of(events, dialect), encoding="utf-8")
        click.echo(f"wrote {mermaid_out}")
    if svg_out is not None:
        dot = find_dot()
        if dot is None:
            click.echo("zeus-fsm trace: Graphviz `dot` not found (apt-get install graphviz); "
                       f"{svg_out} not written", err=True)
            sys.exit(2)
        try:
            svg_out.write_bytes(render_svg(highlighted_dot(events, dialect), dot))
        except DotFailed as error:
            click.echo(f"zeus-fsm trace: {error}", err=True)
            sys.exit(2)
        click.echo(f"wrote {svg_out}")
