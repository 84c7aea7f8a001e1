#!/usr/bin/env python3
"""Breaks PID-3 / PID-4: the root sends the other dialect's identifier
(boot in spec, blank in zeus)."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def root_identifier(self) -> str:
        return "" if self.zeus else "boot"


if __name__ == "__main__":
    Broken().main()
