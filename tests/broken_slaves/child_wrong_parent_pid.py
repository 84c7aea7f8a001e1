#!/usr/bin/env python3
"""Breaks PID-5 (zeus): a child sends its own pid as its parent pid."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def pid_message(self, identifier: str, parent_pid: int) -> bytes:
        return super().pid_message(identifier, os.getpid() if parent_pid else 0)


if __name__ == "__main__":
    Broken().main()
