#!/usr/bin/env python3
"""Breaks SOCKET-5: given a bad ZEUS_MASTER_FD it exits 0 without a word."""

from __future__ import annotations

import sys

from minimal_slave import Slave


class Broken(Slave):
    def die(self, message: str) -> None:
        sys.exit(0)


if __name__ == "__main__":
    Broken().main()
