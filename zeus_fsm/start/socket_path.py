"""Where `.zeus.sock` is: the rule the real Zeus master and client follow, plus one step.

`ZEUSSOCK`, when set and not empty, is the path as given. Otherwise the real
Zeus looks for the nearest ancestor of the working directory (itself included)
holding a file whose name ends in `Gemfile`, and puts `.zeus.sock` there; with
none it ends at `/`. A Python project has no Gemfile, so before giving up at
`/` this looks for the nearest ancestor holding `zeus.json`, and failing that
uses the starting folder itself. (The real client finds such a socket only
through `ZEUSSOCK`: the README says so.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SOCKET_ENV = "ZEUSSOCK"
SOCKET_NAME = ".zeus.sock"
CONFIG_NAME = "zeus.json"


def _ancestors(start: Path) -> list[Path]:
    return [start, *start.parents]


def _has_gemfile(folder: Path) -> bool:
    try:
        return any(name.endswith("Gemfile") for name in os.listdir(folder))
    except OSError:
        return False


def project_root(start: Path) -> Path:
    """The folder `.zeus.sock` belongs in, searching up from `start`."""
    start = start.resolve()
    for folder in _ancestors(start):
        if _has_gemfile(folder):
            return folder
    for folder in _ancestors(start):
        if (folder / CONFIG_NAME).is_file():
            return folder
    return start


def socket_path(start: Path, environ: Mapping[str, str] | None = None) -> Path:
    """The master socket's path for a master or client started in `start`."""
    environ = os.environ if environ is None else environ
    given = environ.get(SOCKET_ENV, "")
    if given:
        return Path(given)
    return project_root(start) / SOCKET_NAME
