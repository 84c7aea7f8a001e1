#!/usr/bin/env python3
"""Breaks CMD-7: the runner sends 0 whatever the command's exit status."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def exit_status(self, status: int) -> int:
        return 0


if __name__ == "__main__":
    Broken().main()
