#!/usr/bin/env python3
"""Breaks CRASH-1: after a failed result it keeps its channel open."""

from __future__ import annotations

import time

from minimal_slave import Slave


class Broken(Slave):
    def after_failure(self) -> None:
        time.sleep(3600)


if __name__ == "__main__":
    Broken().main()
