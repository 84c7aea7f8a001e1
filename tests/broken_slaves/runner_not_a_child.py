#!/usr/bin/env python3
"""Breaks CMD-2: the runner is not the slave's child (an intermediate process forks it and
exits at once, as a daemon would)."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def command(self, name: str) -> None:
        self.slave_pid = os.getpid()
        if os.fork() == 0:
            if os.fork() == 0:
                try:
                    self.run_runner(name)
                finally:
                    os._exit(0)
            os._exit(0)


if __name__ == "__main__":
    Broken().main()
