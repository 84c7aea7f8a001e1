#!/usr/bin/env python3
"""Breaks CMD-6: the command's stdin is /dev/null, not the stdout fd."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def command_stdio(self, out_fd: int, err_fd: int) -> None:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)


if __name__ == "__main__":
    Broken().main()
