#!/usr/bin/env python3
"""Breaks FILES-1: child_lazy reports its lazily loaded file as a relative path."""

from __future__ import annotations

import os

from minimal_slave import LAZY_FILE, Slave


class Broken(Slave):
    def report_lazy(self) -> None:
        self.report([os.path.relpath(LAZY_FILE)])


if __name__ == "__main__":
    Broken().main()
