#!/usr/bin/env python3
"""Breaks PID-2: a child sends its parent's pid in P instead of its own."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def pid_message(self, identifier: str, parent_pid: int) -> bytes:
        wire = super().pid_message(identifier, parent_pid)
        if identifier != self.root_identifier():
            wire = wire.replace(b"%d" % os.getpid(), b"%d" % os.getppid(), 1)
        return wire


if __name__ == "__main__":
    Broken().main()
