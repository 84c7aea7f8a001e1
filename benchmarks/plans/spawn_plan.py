"""A plan whose actions do nothing: what bench_spawn times is the slave, not the action.

    python -m zeus_fsm.slave --plan benchmarks.plans.spawn_plan:SpawnPlan  (from the repo root)

spawn_plan.rb is the same plan for the real Zeus Ruby shim.
"""

from __future__ import annotations


class SpawnPlan:
    def boot(self) -> None:
        """The root loads nothing."""

    def child_noop(self) -> None:
        """A child that does nothing: R:OK right after P (and, in zeus, the pipe)."""
