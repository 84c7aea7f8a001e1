#!/usr/bin/env python3
"""Breaks FILES-2 (SHOULD): the root reports a loaded file that does not exist."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def report(self, paths: list[str]) -> None:
        if paths and paths[0].endswith("minimal_slave.py"):  # the boot files
            paths = [*paths, "/nonexistent/zeus_fsm_check/missing.rb"]
        super().report(paths)


if __name__ == "__main__":
    Broken().main()
