#!/usr/bin/env python3
"""Breaks RESULT-2: the root's boot action succeeds, yet it sends an error result."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def run_action(self, identifier: str) -> tuple[list[str], str | None]:
        files, error = super().run_action(identifier)
        if identifier == "boot":
            return files, "boot went fine, but this slave says otherwise\n"
        return files, error


if __name__ == "__main__":
    Broken().main()
