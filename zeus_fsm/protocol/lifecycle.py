"""The master's view of one slave process, as a table run by a flat `transitions` Machine
(one, shared by every Lifecycle in the process).

The handshake machine (machine.py) judges the bytes and fds a slave sends.
This smaller machine tracks what the master has done with the process around
it: started it, seen it register, seen its result, stopped it. It is written
in the same table style, so diagrams and the trace can be generated from it::

    unbooted --start--> spawning --register--> booting --succeed--> connected
                            |                     |                    |
                            +-------fail----------+-------fail---------+--> crashed
    spawning/booting/connected/crashed --stop--> stopped --reset--> unbooted

An event the table does not allow raises a ProtocolError that names who is
to blame: the slave for registrations and results nobody asked for (a second
registration for one S is SPAWN-5), the master for its own misuse.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Final

from transitions import Machine

from zeus_fsm.protocol.errors import Role, UnexpectedEvent
from zeus_fsm.protocol.tables import RejectionSpec, StateSpec, TransitionSpec, TriggerSpec

LIFECYCLE_TRIGGERS: Final[tuple[TriggerSpec, ...]] = (
    TriggerSpec("start", Role.MASTER, "the master started the root process or sent S"),
    TriggerSpec("register", Role.SLAVE, "the slave's socket and P were accepted"),
    TriggerSpec("succeed", Role.SLAVE, "R:OK"),
    TriggerSpec("fail", Role.SLAVE,
                     "R:<error>, a broken rule, or the process went away"),
    TriggerSpec("stop", Role.MASTER, "the master stopped the process and closed its fds"),
    TriggerSpec("reset", Role.MASTER, "back to unbooted, for a restart"),
)

LIFECYCLE_STATES: Final[tuple[StateSpec, ...]] = (
    StateSpec("unbooted", "no process yet (or reset for a restart)"),
    StateSpec("spawning", "root started or S sent: waiting for the socket and P"),
    StateSpec("booting", "registered (P accepted): the action runs, waiting for R"),
    StateSpec("connected", "R:OK: the slave serves S; loaded files may still arrive"),
    StateSpec("crashed", "failed: the master drains loaded files, then stops it"),
    StateSpec("stopped", "the process is gone and its fds are closed", terminal=True),
)

_LIVE = ("spawning", "booting", "connected", "crashed")

LIFECYCLE_TRANSITIONS: Final[tuple[TransitionSpec, ...]] = (
    TransitionSpec("start", "unbooted", "spawning", "SOCKET-1",
                   doc="root: the process is started with ZEUS_MASTER_FD; child: S was sent"),
    TransitionSpec("register", "spawning", "booting", "SPAWN-5",
                   doc="the one registration this start asked for"),
    TransitionSpec("succeed", "booting", "connected", "RESULT-2", doc="the action succeeded"),
    *(TransitionSpec("fail", source, "crashed", "CRASH-2",
                     doc="the slave failed: drain its loaded files, then stop it")
      for source in ("spawning", "booting", "connected")),
    *(TransitionSpec("stop", source, "stopped", "CRASH-2",
                     doc="SIGTERM, SIGKILL after the grace period; reaped; fds closed")
      for source in _LIVE),
    TransitionSpec("reset", "stopped", "unbooted", "SOCKET-1", doc="ready to start again"),
)

LIFECYCLE_REJECTIONS: Final[tuple[RejectionSpec, ...]] = (
    RejectionSpec("register", "*", "SPAWN-5", "a registration nobody asked for"),
    RejectionSpec("succeed", "*", "RESULT-1", "a result from a slave that is not booting"),
    RejectionSpec("fail", "*", "RESULT-1", "a failure from a slave that is not running"),
    RejectionSpec("start", "*", "SPAWN-1", "the slave is already started"),
    RejectionSpec("stop", "*", "CRASH-2", "there is no running slave to stop"),
    RejectionSpec("reset", "*", "CRASH-2", "only a stopped slave can be reset"),
)

_SENDERS: Final[dict[str, Role]] = {t.name: t.sender for t in LIFECYCLE_TRIGGERS}
_ALLOWED: Final[dict[tuple[str, str], TransitionSpec]] = {
    (t.source, t.trigger): t for t in LIFECYCLE_TRANSITIONS
}
_REJECTED: Final[dict[str, RejectionSpec]] = {r.trigger: r for r in LIFECYCLE_REJECTIONS}

#: on_transition(before, trigger, after, row)
LifecycleCallback = Callable[[str, str, str, TransitionSpec], None]


@cache
def _shared_machine() -> Machine:
    """The lifecycle table as one flat `transitions` Machine with no model.

    Built on first use, once per process, and shared by every Lifecycle (the master
    makes one per slave, in its critical path): building a Machine per session cost
    ~0.2 ms idle (bench_machine). A Lifecycle passes itself to
    `events[trigger].trigger(model)`, so the machine keeps no reference to it.
    """
    machine = Machine(model=None, states=[s.name for s in LIFECYCLE_STATES],
                      initial=LIFECYCLE_STATES[0].name, auto_transitions=False,
                      send_event=False)
    for t in LIFECYCLE_TRANSITIONS:
        machine.add_transition(t.trigger, t.source, t.dest)
    return machine


class Lifecycle:
    """One slave process's lifecycle; `fire(trigger)` moves it or raises ProtocolError."""

    def __init__(self, on_transition: LifecycleCallback | None = None) -> None:
        self._on_transition = on_transition
        self.state: str = LIFECYCLE_STATES[0].name  # the shared machine's model attribute
        self._machine = _shared_machine()

    def allows(self, trigger: str) -> bool:
        return (self.state, trigger) in _ALLOWED

    @property
    def live(self) -> bool:
        """A process was started and not yet stopped."""
        return self.state in _LIVE

    def fire(self, trigger: str, detail: str = "") -> TransitionSpec:
        """Apply a trigger; an illegal one raises the ProtocolError it is (state unchanged)."""
        row = _ALLOWED.get((self.state, trigger))
        if row is None:
            rejection = _REJECTED[trigger]  # every trigger has a catch-all row
            reason = f"{rejection.reason}: {detail}" if detail else rejection.reason
            raise UnexpectedEvent(reason, culprit=_SENDERS[trigger],
                                  requirement=rejection.requirement,
                                  state=f"lifecycle {self.state}")
        before = self.state
        self._machine.events[trigger].trigger(self)
        if self._on_transition is not None:
            self._on_transition(before, trigger, self.state, row)
        return row
