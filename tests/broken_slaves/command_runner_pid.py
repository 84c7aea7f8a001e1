#!/usr/bin/env python3
"""Breaks CMD-5: the command's P gives the runner's pid instead of its own."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def command_pid_message(self) -> bytes:
        return f"P:{os.getppid()}:{self.slave_pid}:\0".encode()


if __name__ == "__main__":
    Broken().main()
