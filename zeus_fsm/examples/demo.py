"""The demo plan: what `python -m zeus_fsm.slave` runs unless told otherwise.

Like Zeus's Ruby plan, a plan is a class with one method per identifier; the
root slave runs `boot`, and each `S:<identifier>` forks a child that runs the
method of that name. Commands follow the same rule (zeus dialect): `C:<name>`
runs the method of that name in a command process, with sys.argv set to the
command and its arguments, stdin/stdout/stderr on the client's fds; what it
returns (or passes to sys.exit) is the exit status.

Every action here loads real modules and a data file of this package, so a
master can check that it recorded exactly what was loaded: EXPECTED_FILES says,
per identifier, which of the package's own files that is.
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.realpath(__file__))
_DATA = os.path.join(_HERE, "data")

#: How long child_lazy's thread waits before its import: well after R:OK is sent.
LAZY_DELAY = 0.1


def _own(*parts: str) -> bytes:
    """A file of this package as the slave reports it: resolved, absolute, bytes."""
    return os.fsencode(os.path.join(_HERE, *parts))


#: Per identifier, the package's own files the action loads (each reported once).
#: The root imports the plan module itself as part of its action, so `boot`
#: includes this package's __init__ and this file. `child_fail` includes this file
#: because it is in the failure's traceback. Standard-library modules the actions
#: import (json, csv, importlib...) are reported too when they were not loaded
#: before; they are not listed here because which ones are new depends on Python.
EXPECTED_FILES: dict[str, frozenset[bytes]] = {
    "boot": frozenset({_own("__init__.py"), _own("demo.py"), _own("boot_helper.py"),
                       _own("data", "boot.json")}),
    "child_ok": frozenset({_own("ok_helper.py"), _own("data", "ok.csv")}),
    "child_fail": frozenset({_own("demo.py"), _own("data", "fail.txt")}),
    "child_lazy": frozenset({_own("lazy_helper.py")}),
}

#: What child_fail raises; tests look for it in the R error text.
FAIL_MESSAGE = "child_fail fails on purpose after reading fail.txt"


class DemoPlan:
    """One method per identifier; each returns normally (R:OK) or raises (R:<traceback>)."""

    def boot(self) -> None:
        import json

        from zeus_fsm.examples import boot_helper

        with open(os.path.join(_DATA, "boot.json"), encoding="utf-8") as file:
            self.settings = json.load(file)
        self.greeting = boot_helper.GREETING

    def child_ok(self) -> None:
        import csv

        from zeus_fsm.examples import ok_helper

        with open(os.path.join(_DATA, "ok.csv"), encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
        if ok_helper.column_total(rows, "count") != 3:
            raise ValueError(f"ok.csv has unexpected counts: {rows!r}")

    def child_fail(self) -> None:
        with open(os.path.join(_DATA, "fail.txt"), encoding="utf-8") as file:
            file.read()
        raise RuntimeError(FAIL_MESSAGE)

    def child_lazy(self) -> None:
        import threading

        # The result goes out first; the import happens later, in another thread.
        threading.Thread(target=_import_lazily, name="lazy-import", daemon=True).start()


    # ---- commands (zeus): `zeus hello a b`, and the checker's `zcheck` ----------------

    def hello(self) -> int:
        """Greets its arguments on stdout; the exit status is how many there were."""
        print("hello", *sys.argv[1:])
        return len(sys.argv) - 1

    def zcheck(self) -> int:
        """The check command of spec/CONFORMANCE.md: its first argument picks a behaviour."""
        from zeus_fsm.examples.zcheck import main

        return main()


def _import_lazily() -> None:
    import importlib
    import time

    time.sleep(LAZY_DELAY)
    importlib.import_module("zeus_fsm.examples.lazy_helper")
