"""A flat state machine run from tables: the engine of the command and client machines.

The tables (tables.py rows) say everything: which trigger moves which state
where, with which guards, and which refused event breaks which requirement.
This class only applies them, on a flat `transitions` Machine (a flat trigger
costs a few microseconds, a hierarchical one tens). A subclass names its
tables, its event-to-trigger map and its guards (`_guard_<name>` methods that
return True or raise the ProtocolError they found).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from transitions import Machine

from zeus_fsm.protocol.errors import ProtocolError, Role, UnexpectedEvent
from zeus_fsm.protocol.tables import RejectionSpec, StateSpec, TransitionSpec, TriggerSpec

#: on_transition(before, trigger, after, row)
Moved = Callable[[str, str, str, TransitionSpec], None]


class TableMachine:
    """One exchange, as either side sees it: feed events with `handle()`, read `state`.

    A refused event raises the ProtocolError it is and leaves the machine `broken`;
    the first error stays in `error`.
    """

    #: The tables, set by each subclass.
    STATES: ClassVar[tuple[StateSpec, ...]]
    TRANSITIONS: ClassVar[tuple[TransitionSpec, ...]]
    REJECTIONS: ClassVar[tuple[RejectionSpec, ...]]
    TRIGGERS: ClassVar[tuple[TriggerSpec, ...]]
    #: What a refused trigger raises (default UnexpectedEvent), e.g. timeout: StepTimeout.
    ERROR_CLASSES: ClassVar[Mapping[str, type[ProtocolError]]] = {}
    #: How the state is named in errors ("client request", "command asked").
    STATE_PREFIX: ClassVar[str] = ""
    INITIAL: ClassVar[str]
    #: What a trigger with no row at all means (a caller's error, said plainly).
    NO_ROW: ClassVar[str] = "no table row for this trigger in this state"
    # The tables indexed once per class, for the lookups every event makes.
    _ALLOWED: ClassVar[dict[tuple[str, str], TransitionSpec]]
    _REFUSED: ClassVar[dict[tuple[str, str], RejectionSpec]]
    _SENDERS: ClassVar[dict[str, Role]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._ALLOWED = {(t.source, t.trigger): t for t in cls.TRANSITIONS}
        cls._REFUSED = {(r.source, r.trigger): r for r in cls.REJECTIONS}
        cls._SENDERS = {t.name: t.sender for t in cls.TRIGGERS}

    def __init__(self, on_transition: Moved | None = None) -> None:
        self.error: ProtocolError | None = None
        self._on_transition = on_transition
        self.state: str = self.INITIAL  # the machine's model attribute
        records = dict(vars(self))
        self._machine = Machine(model=self, states=[s.name for s in self.STATES],
                                initial=self.INITIAL, auto_transitions=False,
                                send_event=False)
        for row in self.TRANSITIONS:
            self._machine.add_transition(
                row.trigger, row.source, None if row.dest == "=" else row.dest,
                conditions=[getattr(self, "_guard_" + g) for g in row.guards])
        # `transitions` binds a trigger method over any attribute that is None, so a
        # record named like a trigger (`pid`, `request`) would read as a method until
        # set: the records win back their names (handle() triggers by name anyway).
        for name, value in records.items():
            setattr(self, name, value)

    # ---- what a subclass provides -------------------------------------------------

    def trigger_of(self, event: Any) -> str:
        raise NotImplementedError

    def wire_of(self, event: Any) -> bytes | None:
        """The bytes an event was on the wire, to show in an error (None: not bytes)."""
        return None

    def record(self, event: Any) -> None:
        """Keep what an accepted event says (pid, status ...)."""

    # ---- reading -----------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return any(s.terminal and s.name == self.state for s in self.STATES)

    def describe_state(self) -> str:
        return f"{self.STATE_PREFIX} {self.state}".strip()

    def allowed_triggers(self) -> list[str]:
        return sorted(trigger for (source, trigger) in self._ALLOWED if source == self.state)

    def rejection(self, trigger: str) -> RejectionSpec | None:
        """The row refusing `trigger` now: the exact row, then the state's `*` row, then
        the trigger's `*` row; None where a transition allows it."""
        return self.rejection_in(self.state, trigger)

    @classmethod
    def rejection_in(cls, state: str, trigger: str) -> RejectionSpec | None:
        if (state, trigger) in cls._ALLOWED:
            return None
        rows = cls._REFUSED
        return rows.get((state, trigger)) or rows.get((state, "*")) or rows.get(("*", trigger))

    # ---- feeding -----------------------------------------------------------------

    def handle(self, event: Any) -> None:
        """Apply one event, or raise the ProtocolError it is (and become broken)."""
        trigger = self.trigger_of(event)
        row = self._ALLOWED.get((self.state, trigger))
        if row is None:
            rejection = self.rejection(trigger)
            if rejection is None:
                raise ValueError(f"{self.NO_ROW} ({trigger!r} in {self.state!r})")
            raise self._fail(self._refusal(rejection, trigger, event))
        before = self.state
        try:
            self.trigger(trigger, event)  # type: ignore[attr-defined]  # added by transitions
        except ProtocolError as error:
            raise self._fail(error) from None
        self.record(event)
        if self._on_transition is not None:
            self._on_transition(before, trigger, self.state, row)

    def handle_all(self, events: Iterable[Any]) -> None:
        for event in events:
            self.handle(event)

    def _refusal(self, rejection: RejectionSpec, trigger: str, event: Any) -> ProtocolError:
        cls = self.ERROR_CLASSES.get(trigger, UnexpectedEvent)
        reason = rejection.reason
        seconds = getattr(event, "seconds", None)
        if trigger == "timeout" and seconds is not None:
            reason += f" within {seconds:g} s"
        return cls(reason, culprit=self._SENDERS.get(trigger, Role.SLAVE),
                   requirement=rejection.requirement, state=self.describe_state(),
                   data=self.wire_of(event))

    def _fail(self, error: ProtocolError) -> ProtocolError:
        error.with_state(self.describe_state())
        if self.error is None:
            self.error = error
        self._machine.set_state("broken", model=self)
        return error
