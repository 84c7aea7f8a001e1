#!/usr/bin/env python3
"""Breaks CMD-5: the command's P carries an identifier (it must be empty)."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def command_pid_message(self) -> bytes:
        return f"P:{os.getpid()}:{self.slave_pid}:zcheck\0".encode()


if __name__ == "__main__":
    Broken().main()
