#!/usr/bin/env python3
"""Breaks SPAWN-2: reads S and does nothing."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def spawn(self, identifier: str) -> None:
        pass


if __name__ == "__main__":
    Broken().main()
