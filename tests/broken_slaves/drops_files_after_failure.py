#!/usr/bin/env python3
"""Breaks CRASH-1: a failed action means to report its files after R, but exits before it does."""

from __future__ import annotations

from minimal_slave import Slave


class Broken(Slave):
    def run_action(self, identifier: str) -> tuple[list[str], str | None]:
        files, error = super().run_action(identifier)
        return ([], error) if error is not None else (files, error)


if __name__ == "__main__":
    Broken().main()
