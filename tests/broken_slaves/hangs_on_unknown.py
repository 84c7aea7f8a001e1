#!/usr/bin/env python3
"""Breaks RESULT-5: an identifier with no action hangs instead of giving an error result."""

from __future__ import annotations

import time

from minimal_slave import PLAN_FILES, Slave


class Broken(Slave):
    def run_action(self, identifier: str) -> tuple[list[str], str | None]:
        if identifier not in PLAN_FILES and identifier != "boot":
            time.sleep(3600)
        return super().run_action(identifier)


if __name__ == "__main__":
    Broken().main()
