#!/usr/bin/env python3
"""Breaks FILES-3 (SHOULD): the root reports one loaded file twice."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def report(self, paths: list[str]) -> None:
        if paths and paths[0].endswith("minimal_slave.py"):  # the boot files
            paths = [*paths, paths[0]]
        super().report(paths)


if __name__ == "__main__":
    Broken().main()
