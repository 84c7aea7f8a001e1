"""The click command `run`: `zeus-fsm run COMMAND [ARGS...]`."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.argument("command")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def run_command(command: str, args: tuple[str, ...]) -> None:
    """Run COMMAND with ARGS through the running master (`zeus-fsm start`, or the real
    Zeus master): its output, input and exit status are this process's own.

    The socket is $ZEUSSOCK, else .zeus.sock in the nearest folder up from here that
    holds a *Gemfile, else the one that holds zeus.json. Exit status: the command's;
    127 when the master has no such command; 1 when no master runs or it fails.
    """
    from zeus_fsm.start.client import run
    from zeus_fsm.start.socket_path import socket_path

    # Arguments are bytes on the wire: give back exactly what the shell passed.
    raw = [os.fsencode(arg) for arg in args]
    sys.exit(run(command, raw, socket_path(Path.cwd())))
