#!/usr/bin/env python3
"""Breaks CHAN-1 (zeus): never sends the loaded-files pipe (and so reports no files)."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def send_pipe(self) -> None:
        pass

    def report(self, paths: list[str]) -> None:
        if not self.zeus:
            super().report(paths)


if __name__ == "__main__":
    Broken().main()
