"""`zeus-fsm` and `python -m zeus_fsm`.

`zeus-fsm run NAME ...` goes straight to the client: a preloader's client exists to
start fast, and the click group (cli.py, with every other command) costs more than
the rest of the client's start-up. Anything else, `run --help` included, is cli.py's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def console() -> None:
    argv = sys.argv[1:]
    if len(argv) >= 2 and argv[0] == "run" and not argv[1].startswith("-"):
        from zeus_fsm.start.client import run
        from zeus_fsm.start.socket_path import socket_path

        # Arguments are bytes on the wire: give back exactly what the shell passed.
        sys.exit(run(argv[1], [os.fsencode(arg) for arg in argv[2:]],
                     socket_path(Path.cwd())))
    from zeus_fsm.cli import main

    main()


if __name__ == "__main__":
    console()
