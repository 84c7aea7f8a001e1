"""Loaded by DemoPlan.boot: a module of the plan's own, so the root reports it."""

GREETING = "booted"
