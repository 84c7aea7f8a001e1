#!/usr/bin/env python3
"""Breaks CMD-9: the runner never looks for its client; the command runs on without it."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def wait_command(self, pid: int, client_pid: int) -> int:
        return self.exit_status(os.waitpid(pid, 0)[1])


if __name__ == "__main__":
    Broken().main()
