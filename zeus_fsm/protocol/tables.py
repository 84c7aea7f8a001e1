"""The row types of the state tables (machine.py's handshake, lifecycle.py's node).

Both machines are written as data in these rows, so that the runtime, the
exported spec/machine.json, the diagrams and the trace all read one source.
"""

from __future__ import annotations

import attrs

from zeus_fsm.protocol.errors import Role
from zeus_fsm.protocol.requirements import BOTH


@attrs.frozen
class StateSpec:
    name: str  # full name; nesting uses transitions' "_" separator, so leaves have none
    doc: str
    dialects: frozenset[str] = BOTH
    terminal: bool = False


@attrs.frozen
class TransitionSpec:
    trigger: str
    source: str
    dest: str  # "=" for an internal transition (state unchanged)
    requirement: str
    guards: tuple[str, ...] = ()
    dialects: frozenset[str] = BOTH
    doc: str = ""


@attrs.frozen
class RejectionSpec:
    """An event a machine forbids in a state, and the requirement it breaks.

    In the handshake, `source` may be a parent state (it covers the leaves
    below) and `trigger` "*" covers every trigger without a transition there.
    In the lifecycle, `source` "*" covers every state without a row.
    """

    trigger: str
    source: str
    requirement: str
    reason: str
    dialects: frozenset[str] = BOTH


@attrs.frozen
class TriggerSpec:
    name: str
    sender: Role  # who is blamed when this event is not allowed
    doc: str
