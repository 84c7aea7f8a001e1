#!/usr/bin/env python3
"""Breaks CMD-7: a command killed by a signal is reported as 0, as the Ruby runner does."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def exit_status(self, status: int) -> int:
        return 0 if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


if __name__ == "__main__":
    Broken().main()
