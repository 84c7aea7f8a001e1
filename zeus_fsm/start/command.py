"""`zeus-fsm start [CONFIG]`: keep a zeus.json tree of slaves booted, restart on file changes."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from zeus_fsm.transport.processes import DIALECT_ENV

#: The bundled config: the demo plan's tree (see zeus_fsm/examples/zeus.json).
DEFAULT_CONFIG = Path(__file__).parent.parent / "examples" / "zeus.json"


@click.command("start")
@click.argument("config", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dialect", type=click.Choice(["spec", "zeus"]), default="spec",
              show_default=True, envvar=DIALECT_ENV, help="Wire dialect.")
@click.option("--json-status", is_flag=True,
              help="Print one JSON line per state change on stdout (for scripts and tests).")
@click.option("--debounce", "debounce_ms", type=click.IntRange(10, 10_000), default=300,
              show_default=True,
              help="Longest time (ms) changes are grouped into one restart.")
@click.option("--step-timeout", type=click.FloatRange(0.1, 600), default=5.0,
              show_default=True, help="Seconds a slave may take for each handshake step.")
@click.option("--boot-wait", type=click.FloatRange(0.1, 3600), default=30.0,
              show_default=True,
              help="Seconds a client's command may wait for its slave to boot.")
def start_command(config: Path | None, dialect: str, json_status: bool, debounce_ms: int,
                  step_timeout: float, boot_wait: float) -> None:
    """Boot the tree of slaves CONFIG describes (default: the bundled demo plan) and keep
    it booted: when a file a slave reported loading changes, that slave and the slaves
    below it are stopped and booted again. Ctrl-C or SIGTERM stops every slave.

    Clients run the plan's commands through it (`zeus-fsm run NAME ARGS`, or the real
    `zeus NAME ARGS`): it serves $ZEUSSOCK, else .zeus.sock in the nearest folder up
    from CONFIG's (or, with no CONFIG, from here) that holds a *Gemfile, else the one
    that holds zeus.json, else here. The socket is mode 0600: only you may use it."""
    import signal
    from types import FrameType

    from zeus_fsm.start.config import ConfigError, load
    from zeus_fsm.start.socket_path import socket_path
    from zeus_fsm.start.supervisor import Supervisor
    from zeus_fsm.start.view import JsonStatus, LiveTable, PlainLines, StatusView
    from zeus_fsm.transport.processes import become_subreaper

    path = config or DEFAULT_CONFIG
    try:
        zeus_config = load(path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    # A slave whose parent slave died is re-parented here, not to init: stopped, it is
    # reaped at once instead of lingering as a zombie.
    become_subreaper()
    view: StatusView
    if json_status:
        view = JsonStatus()
    elif sys.stdout.isatty():
        view = LiveTable(f"zeus-fsm start {path} ({dialect})")
    else:
        view = PlainLines()
    where = socket_path(path.resolve().parent if config is not None else Path.cwd())
    with Supervisor(zeus_config, dialect, view, debounce_ms=debounce_ms,
                    step_timeout=step_timeout, socket_path=where,
                    boot_wait=boot_wait, config_path=path) as supervisor:

        def stop(_signum: int, _frame: FrameType | None) -> None:
            supervisor.request_stop()

        previous_wakeup = signal.set_wakeup_fd(supervisor.wake_fd)
        previous = {signum: signal.signal(signum, stop)
                    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            code = supervisor.run()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            signal.set_wakeup_fd(previous_wakeup)
    sys.exit(code)
