#!/usr/bin/env python3
"""Breaks RESULT-6: the root registers but never sends R."""

from __future__ import annotations

import time

from minimal_slave import Slave


class Broken(Slave):
    def send_result(self, error: str | None) -> None:
        time.sleep(3600)


if __name__ == "__main__":
    Broken().main()
