#!/usr/bin/env python3
"""Breaks SOCKET-2: opens ZEUS_MASTER_FD, then never sends its socket (never answers)."""

from __future__ import annotations

import time

from minimal_slave import Slave


class Broken(Slave):
    def main(self) -> None:
        self.master = self.open_master()
        time.sleep(3600)


if __name__ == "__main__":
    Broken().main()
