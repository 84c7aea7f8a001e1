#!/usr/bin/env python3
"""Breaks CMD-10: the slave waits for its runner before it serves anything else."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def command(self, name: str) -> None:
        self.slave_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            try:
                self.run_runner(name)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)


if __name__ == "__main__":
    Broken().main()
