#!/usr/bin/env python3
"""Breaks CMD-6: the command's stderr goes to the stdout fd."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def command_stdio(self, out_fd: int, err_fd: int) -> None:
        for target in (0, 1, 2):
            os.dup2(out_fd, target)


if __name__ == "__main__":
    Broken().main()
