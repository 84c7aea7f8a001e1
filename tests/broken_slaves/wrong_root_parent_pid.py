#!/usr/bin/env python3
"""Breaks PID-5 (zeus): the root sends the pid of the process that started it, not 0."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def main(self) -> None:
        self.master = self.open_master()
        self.boot(self.root_identifier(), os.getppid())


if __name__ == "__main__":
    Broken().main()
