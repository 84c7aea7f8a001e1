#!/usr/bin/env python3
"""Breaks RESULT-3: child_fail fails, yet the slave sends R:OK."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def send_result(self, error: str | None) -> None:
        super().send_result(None)


if __name__ == "__main__":
    Broken().main()
