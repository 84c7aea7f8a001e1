"""`zeus-fsm check [OPTIONS] [-- CMD ARGS...]`: judge a slave, case by case.

Exit status: 0 every case passed, 1 some case failed, 2 a usage error (a -k
that selects nothing included) or a slave command that cannot be started.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

import click

from zeus_fsm.transport.processes import DIALECT_ENV, become_subreaper, reap_zombie_children

REFERENCE_PLAN = "zeus_fsm.examples.demo:DemoPlan"
#: Opened when the options are parsed, so an unwritable path is a usage error (exit 2)
#: before any slave runs, not a crash after the run.
REPORT_FILE = click.File("w", encoding="utf-8", lazy=False)


def reference_slave(dialect: str) -> tuple[str, ...]:
    """The bundled reference slave, run by this very interpreter."""
    return (sys.executable, "-m", "zeus_fsm.slave", "--plan", REFERENCE_PLAN,
            "--dialect", dialect)


@click.command("check", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--dialect", type=click.Choice(["spec", "zeus"]), default="spec",
              show_default=True, envvar=DIALECT_ENV,
              help="Wire dialect the slave speaks.")
@click.option("--timeout", type=click.FloatRange(min=0.05), default=5.0, show_default=True,
              help="Seconds each step of the handshake may take.")
@click.option("--id-ok", default="child_ok", show_default=True,
              help="Plan identifier whose action succeeds ('' : none; its cases skip).")
@click.option("--id-fail", default="child_fail", show_default=True,
              help="Plan identifier whose action loads a file, then fails.")
@click.option("--id-lazy", default="child_lazy", show_default=True,
              help="Plan identifier whose action succeeds, then loads a file lazily.")
@click.option("--id-command", default="zcheck", show_default=True,
              help="zeus: the plan's command that behaves as spec/CONFORMANCE.md's zcheck "
                   "('' : none; the command cases skip).")
@click.option("--list", "list_only", is_flag=True, help="Print the selected cases; run nothing.")
@click.option("--markdown", is_flag=True,
              help="With --list: the whole catalogue as a Markdown table (all dialects).")
@click.option("-k", "pattern", metavar="PATTERN",
              help="Run the cases whose id, requirement or title contains PATTERN "
                   "(case-insensitive; several: comma-separated).")
@click.option("--strict", is_flag=True, help="SHOULD-level cases fail instead of warning.")
@click.option("--junit", type=REPORT_FILE, help="Also write a JUnit XML report to FILE.")
@click.option("--json", "json_file", type=REPORT_FILE, help="Also write a JSON report to FILE.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=None,
              help="Cases run at once, each with its own slave [default: CPUs, at most 4].")
@click.argument("command", nargs=-1, type=click.UNPROCESSED, metavar="[-- CMD ARGS...]")
def check(dialect: str, timeout: float, id_ok: str, id_fail: str, id_lazy: str,
          id_command: str, list_only: bool, markdown: bool, pattern: str | None, strict: bool,
          junit: TextIO | None, json_file: TextIO | None, jobs: int | None,
          command: tuple[str, ...]) -> None:
    """Play the master against a slave command and judge it, case by case.

    Each case starts a fresh CMD (default: the bundled reference slave) in its
    own process group with ZEUS_MASTER_FD set, and ends every process of it
    afterwards (runners that called setsid too).
    See spec/CONFORMANCE.md for what a slave's plan must provide.
    """
    from zeus_fsm.conformance import cases as catalogue
    from zeus_fsm.conformance import report
    from zeus_fsm.conformance.runner import RunConfig, SlaveStartError, Summary, run

    if markdown and not list_only:
        raise click.UsageError("--markdown goes with --list")
    if markdown:
        click.echo(report.markdown_table(), nl=False)
        return
    selected = catalogue.select(dialect, pattern)
    if not selected:
        raise click.UsageError(f"-k {pattern!r} selects no case of the {dialect} dialect "
                               "(see --list)")
    if list_only:
        for line in report.case_list(selected):
            click.echo(line)
        return

    config = RunConfig(command=command or reference_slave(dialect), dialect=dialect,
                       timeout=timeout, strict=strict,
                       ids=catalogue.PlanIds(ok=id_ok, fail=id_fail, lazy=id_lazy,
                                             command=id_command))
    # Orphans of the slave (a runner whose slave died, a command's daemon) come back to
    # the checker, not to init: each case's judge ends and reaps its own.
    become_subreaper()
    colour = sys.stdout.isatty()

    def style(text: str, name: str) -> str:
        if not colour:
            return text
        return click.style(text, bold=True) if name == "bold" else click.style(text, fg=name)

    text = report.TextReport(lambda line: click.echo(line, color=colour), style)
    text.start(config, len(selected))
    try:
        results = run(selected, config, text.case, jobs or min(4, os.cpu_count() or 1))
    except SlaveStartError as error:
        click.echo(f"zeus-fsm check: {error}", err=True)
        sys.exit(2)
    reap_zombie_children()  # what ended on its own after its parent died came back to us
    text.finish(results)
    for out, render in ((junit, report.to_junit), (json_file, report.to_json)):
        if out is not None:
            out.write(render(config, results))
            out.close()
    sys.exit(1 if Summary.of(results).failed else 0)
