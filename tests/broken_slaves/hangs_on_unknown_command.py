#!/usr/bin/env python3
"""Breaks CMD-11: a command the plan does not have hangs instead of failing."""

from __future__ import annotations

import time

from minimal_slave import Slave


class Broken(Slave):
    def unknown_command(self, name: str) -> int:
        time.sleep(3600)
        return 0


if __name__ == "__main__":
    Broken().main()
