#!/usr/bin/env python3
"""Breaks SOCKET-6 (SHOULD): a bad ZEUS_MASTER_FD is told in a multi-line backtrace, as the
Ruby shim does (it still exits non-zero: SOCKET-5 holds)."""

from __future__ import annotations

import sys

from minimal_slave import Slave


class Broken(Slave):
    def die(self, message: str) -> None:
        sys.stderr.write(f"slave.rb:12:in `open_master': {message} (ArgumentError)\n"
                         "\tfrom slave.rb:40:in `main'\n\tfrom slave.rb:44:in `<main>'\n")
        sys.exit(1)


if __name__ == "__main__":
    Broken().main()
