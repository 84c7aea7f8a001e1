#!/usr/bin/env python3
"""Breaks PID-1: sends R:OK before P (P after R)."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def register(self, identifier: str, parent_pid: int) -> None:
        self.send(b"R:OK")
        super().register(identifier, parent_pid)


if __name__ == "__main__":
    Broken().main()
