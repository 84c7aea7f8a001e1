#!/usr/bin/env python3
"""Breaks SPAWN-5: forks two children for one S."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def spawn(self, identifier: str) -> None:
        super().spawn(identifier)
        super().spawn(identifier)


if __name__ == "__main__":
    Broken().main()
