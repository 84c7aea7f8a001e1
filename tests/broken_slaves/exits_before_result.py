#!/usr/bin/env python3
"""Breaks CRASH-3: a failing action makes the slave exit before it sends R."""

from __future__ import annotations

import os

from minimal_slave import Slave


class Broken(Slave):
    def run_action(self, identifier: str) -> tuple[list[str], str | None]:
        if identifier == "child_fail":
            os._exit(1)
        return super().run_action(identifier)


if __name__ == "__main__":
    Broken().main()
