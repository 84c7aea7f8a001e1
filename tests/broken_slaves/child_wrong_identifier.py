#!/usr/bin/env python3
"""Breaks PID-3 / PID-4: a child registers with its identifier upper-cased,
not the one it was given."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def pid_message(self, identifier: str, parent_pid: int) -> bytes:
        if identifier != self.root_identifier():
            identifier = identifier.upper()
        return super().pid_message(identifier, parent_pid)


if __name__ == "__main__":
    Broken().main()
