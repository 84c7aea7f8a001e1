#!/usr/bin/env python3
"""Breaks RESULT-1: sends its result twice."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def send_result(self, error: str | None) -> None:
        super().send_result(error)
        super().send_result(error)


if __name__ == "__main__":
    Broken().main()
