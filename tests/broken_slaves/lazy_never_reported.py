#!/usr/bin/env python3
"""Breaks FILES-6: child_lazy loads its file after the result but never reports it."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def report_lazy(self) -> None:
        pass


if __name__ == "__main__":
    Broken().main()
