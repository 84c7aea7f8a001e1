#!/usr/bin/env python3
"""Breaks FRAME-4: the pid field of P is not a decimal number."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def pid_message(self, identifier: str, parent_pid: int) -> bytes:
        return super().pid_message(identifier, parent_pid).replace(b"%d" % os.getpid(), b"pid")


if __name__ == "__main__":
    Broken().main()
