"""The handshake of one slave, written once as tables, run by `transitions`.

Two rules, after h11's `_state.py`:

1. Everything that decides what may happen next lives in the tables below:
   states, transitions, the guards each transition runs, and the requirement
   broken by each event that is not allowed. Dialect differences are rows
   marked with the dialects they apply to, not `if` statements.
2. The machine does not know which side it is playing. The master feeds it
   what it receives from a slave; the slave feeds it what it sends. Both run
   the same checks, so neither side can cheat.

Shape (`up` is a parallel state: the result region and the Loaded Files
region run side by side, so files may arrive before or after R; the engine runs
each region as its own flat `transitions` machine, see `_Compiled`)::

    socket -> pid -> [pipe, zeus only] -> up{ result: action -> connected | crashed -> closed
                                             files:  open -> done }
    any violation -> broken

In zeus, C takes the connected slave to `command` until the runner's socket
arrives on its stream (command.py has the rest of a command's exchange, on the
runner's own socket); in spec, C leaves it connected (the seed defines no wire).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final, TypeGuard

import attrs
from transitions import Machine

from zeus_fsm.protocol.dialects import Dialect
from zeus_fsm.protocol.errors import (
    BadDescriptor,
    CredentialsMismatch,
    ProtocolError,
    Role,
    StepTimeout,
    UnexpectedEvent,
)
from zeus_fsm.protocol.errors import (
    ChannelClosed as ChannelClosedError,
)
from zeus_fsm.protocol.events import (
    ChannelClosed,
    Deadline,
    Event,
    FdKind,
    PipeClosed,
    PipePassed,
    RunnerPassed,
    SocketPassed,
)
from zeus_fsm.protocol.messages import (
    ActionResult,
    LoadedFiles,
    Message,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.protocol.requirements import SPEC, ZEUS
from zeus_fsm.protocol.tables import RejectionSpec, StateSpec, TransitionSpec, TriggerSpec

# --------------------------------------------------------------------------
# The tables
# --------------------------------------------------------------------------


TRIGGERS: Final[tuple[TriggerSpec, ...]] = (
    TriggerSpec("socket", Role.SLAVE, "the slave's socket arrives on the master socket"),
    TriggerSpec("pid", Role.SLAVE, "P:<pid>:...:<identifier>"),
    TriggerSpec("pipe", Role.SLAVE, "zeus: the loaded-files pipe arrives on the slave socket"),
    TriggerSpec("ok", Role.SLAVE, "R:OK"),
    TriggerSpec("fail", Role.SLAVE, "R:<error text>"),
    TriggerSpec("files", Role.SLAVE, "a batch of loaded-file paths"),
    TriggerSpec("spawn", Role.MASTER, "S:<identifier>"),
    TriggerSpec("command", Role.MASTER, "C:<identifier>"),
    TriggerSpec("runner", Role.SLAVE, "zeus: after C, the runner's socket arrives on the slave "
                                      "socket"),
    TriggerSpec("hangup", Role.SLAVE, "the slave socket reached end of file"),
    TriggerSpec("pipeclose", Role.SLAVE, "zeus: the pipe reached end of file"),
    TriggerSpec("timeout", Role.SLAVE, "a bounded wait ran out"),
)

STATES: Final[tuple[StateSpec, ...]] = (
    StateSpec("socket", "waiting for the slave's own socket on the master socket"),
    StateSpec("pid", "waiting for the Pid & Identifier message"),
    StateSpec("pipe", "waiting for the loaded-files pipe", ZEUS),
    StateSpec("up", "registered: the result and loaded-files regions run in parallel"),
    StateSpec("up_result", "region: the action's result"),
    StateSpec("up_result_action", "the action is running; waiting for R"),
    StateSpec("up_result_connected", "R:OK received: the slave is connected and serves S"),
    StateSpec("up_result_command", "C sent: waiting for the runner's socket on the stream",
              ZEUS),
    StateSpec("up_result_crashed", "R:<error> received: waiting for the channel to close"),
    StateSpec("up_result_closed", "the slave's socket is closed", terminal=True),
    StateSpec("up_files", "region: loaded files, in parallel with the result"),
    StateSpec("up_files_open", "loaded files may arrive"),
    StateSpec("up_files_done", "the loaded-files channel is closed", terminal=True),
    StateSpec("broken", "a rule was broken; nothing more is accepted", terminal=True),
)

_REGISTER_GUARDS = ("pid_is_peer", "identifier_is_expected")

TRANSITIONS: Final[tuple[TransitionSpec, ...]] = (
    TransitionSpec("socket", "socket", "pid", "SOCKET-2",
                   ("one_fd_passed", "peer_in_slave_group", "socket_type_matches_dialect",
                    "peer_has_master_uid"),
                   doc="the slave sent one end of its own socketpair"),
    TransitionSpec("pid", "pid", "up", "PID-1", _REGISTER_GUARDS, SPEC,
                   doc="P registers the slave; loaded files may now arrive"),
    TransitionSpec("pid", "pid", "pipe", "PID-1",
                   (*_REGISTER_GUARDS, "parent_pid_is_expected"), ZEUS,
                   doc="P registers the slave; its pipe must follow"),
    TransitionSpec("pipe", "pipe", "up", "CHAN-1", ("one_fd_passed", "pipe_is_fifo"), ZEUS,
                   doc="the loaded-files pipe is open"),
    TransitionSpec("ok", "up_result_action", "up_result_connected", "RESULT-2",
                   doc="the action succeeded: connected"),
    TransitionSpec("fail", "up_result_action", "up_result_crashed", "RESULT-3",
                   doc="the action failed: the slave will close its channel"),
    TransitionSpec("files", "up_files_open", "=", "FILES-8",
                   doc="loaded files, one batch per event"),
    TransitionSpec("spawn", "up_result_connected", "=", "SPAWN-1",
                   doc="the master asks for a child"),
    TransitionSpec("command", "up_result_connected", "=", "SPAWN-4", dialects=SPEC,
                   doc="the master asks for a command (the seed defines no wire for it)"),
    TransitionSpec("command", "up_result_connected", "up_result_command", "CMD-1",
                   dialects=ZEUS, doc="the master asks for a command: a runner must answer"),
    TransitionSpec("runner", "up_result_command", "up_result_connected", "CMD-2",
                   ("one_fd_passed", "runner_is_datagram_socket", "payload_is_one_nul"), ZEUS,
                   doc="the runner's socket arrived; the command goes on over it"),
    TransitionSpec("spawn", "up_result_command", "=", "SPAWN-1", dialects=ZEUS,
                   doc="S meanwhile: the child registers on the master socket, not here"),
    TransitionSpec("hangup", "up_result_connected", "up_result_closed", "CRASH-1",
                   doc="a connected slave went away"),
    TransitionSpec("hangup", "up_result_crashed", "up_result_closed", "CRASH-1",
                   doc="a crashed slave closed its channel, as it must"),
    # spec: one channel carries everything, so its end also ends the files region.
    TransitionSpec("hangup", "up_files_open", "up_files_done", "FILES-6", dialects=SPEC,
                   doc="no more loaded files (the one channel closed)"),
    TransitionSpec("pipeclose", "up_files_open", "up_files_done", "FILES-6", dialects=ZEUS,
                   doc="no more loaded files (the pipe closed)"),
)

REJECTIONS: Final[tuple[RejectionSpec, ...]] = (
    # Waiting states: anything but the awaited event breaks that step.
    RejectionSpec("timeout", "socket", "SOCKET-2", "no socket arrived on the master socket"),
    RejectionSpec("hangup", "socket", "SOCKET-2", "the slave exited before sending its socket"),
    RejectionSpec("*", "socket", "SOCKET-2", "the slave's socket must come first"),
    RejectionSpec("timeout", "pid", "PID-1", "no P message arrived"),
    RejectionSpec("hangup", "pid", "PID-1", "the slave closed its socket before sending P"),
    RejectionSpec("*", "pid", "PID-1", "the first message must be P"),
    RejectionSpec("timeout", "pipe", "CHAN-1", "no pipe arrived after P", ZEUS),
    RejectionSpec("hangup", "pipe", "CHAN-1", "the slave closed its socket before its pipe",
                  ZEUS),
    RejectionSpec("*", "pipe", "CHAN-1", "the pipe must follow P", ZEUS),
    # While the action runs: no hang-up, and R within the step timeout.
    RejectionSpec("hangup", "up_result_action", "CRASH-3",
                  "the slave closed its socket before sending R"),
    RejectionSpec("timeout", "up_result_action", "RESULT-6", "no R arrived"),
    RejectionSpec("timeout", "up_result_crashed", "CRASH-1",
                  "the slave did not close its channel after a failed result"),
    # zeus, after C: the runner's socket, before anything else on the stream.
    RejectionSpec("timeout", "up_result_command", "CMD-2", "no runner socket arrived after C",
                  ZEUS),
    RejectionSpec("hangup", "up_result_command", "CMD-2",
                  "the slave closed its socket before the runner socket arrived", ZEUS),
    RejectionSpec("command", "up_result_command", "CMD-1",
                  "a second C before the runner socket of the first arrived", ZEUS),
    # Registered: each message in its place.
    RejectionSpec("pid", "up", "PID-1", "P was already sent"),
    RejectionSpec("pid", "broken", "PID-1", "P was already sent"),
    RejectionSpec("ok", "up", "RESULT-1", "R was already sent"),
    RejectionSpec("fail", "up", "RESULT-1", "R was already sent"),
    RejectionSpec("spawn", "up", "SPAWN-1", "S sent to a slave that is not connected"),
    RejectionSpec("command", "up", "SPAWN-1", "C sent to a slave that is not connected"),
    RejectionSpec("files", "up", "FILES-4", "loaded files after the channel closed", SPEC),
    RejectionSpec("files", "up", "FILES-5", "loaded files after the pipe closed", ZEUS),
    RejectionSpec("pipe", "up", "CHAN-1", "a second pipe", ZEUS),
    RejectionSpec("pipe", "up", "FRAME-1", "an fd on the slave socket", SPEC),
    RejectionSpec("runner", "up", "CMD-2", "a runner socket that no C asked for", ZEUS),
    RejectionSpec("runner", "up", "FRAME-1", "an fd on the slave socket", SPEC),
    RejectionSpec("pipeclose", "up", "FILES-4",
                  "spec has no loaded-files pipe: loaded files are F datagrams", SPEC),
    RejectionSpec("socket", "up", "SOCKET-2", "a second socket for the same slave"),
    RejectionSpec("hangup", "up_result_closed", "CRASH-1", "the socket closed twice"),
    RejectionSpec("pipeclose", "up_files_done", "FILES-5", "the pipe closed twice", ZEUS),
    # Cites PID-1 only if nothing was broken before; otherwise the first broken requirement.
    RejectionSpec("*", "broken", "PID-1", "the handshake is already broken"),
)

# --------------------------------------------------------------------------
# Views of the tables for one dialect
# --------------------------------------------------------------------------


def states_for(dialect: str) -> list[StateSpec]:
    return [s for s in STATES if dialect in s.dialects]


def transitions_for(dialect: str) -> list[TransitionSpec]:
    return [t for t in TRANSITIONS if dialect in t.dialects]


def rejections_for(dialect: str) -> list[RejectionSpec]:
    return [r for r in REJECTIONS if dialect in r.dialects]


def _ancestors(state: str) -> list[str]:
    parts = state.split("_")
    return ["_".join(parts[:i]) for i in range(len(parts), 0, -1)]


# --------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------

_EVENT_TRIGGERS: Final[dict[type[Any], str]] = {
    SocketPassed: "socket",
    PidIdentifier: "pid",
    PipePassed: "pipe",
    RunnerPassed: "runner",
    LoadedFiles: "files",
    SpawnSlave: "spawn",
    SpawnCommand: "command",
    ChannelClosed: "hangup",
    PipeClosed: "pipeclose",
    Deadline: "timeout",
}

_SENDERS: Final[dict[str, Role]] = {t.name: t.sender for t in TRIGGERS}

_ERROR_CLASSES: Final[dict[str, type[ProtocolError]]] = {
    "timeout": StepTimeout,
    "hangup": ChannelClosedError,
    "pipeclose": ChannelClosedError,
}


def trigger_of(event: Event) -> str:
    if isinstance(event, ActionResult):
        return "ok" if event.ok else "fail"
    return _EVENT_TRIGGERS[type(event)]


#: The one parallel state of the tables: its children are regions that run side by side.
_PARALLEL: Final = "up"


def _children(names: list[str], parent: str) -> list[str]:
    """The direct children of `parent` in table order ("_" separates the levels)."""
    prefix = parent + "_"
    return [n for n in names if n.startswith(prefix) and "_" not in n[len(prefix):]]


def _leaves_under(names: list[str], state: str) -> list[str]:
    """`state` itself if it is a leaf, else every leaf below it, in table order."""
    kids = _children(names, state)
    return [leaf for kid in kids for leaf in _leaves_under(names, kid)] if kids else [state]


def _initial_leaf(names: list[str], state: str) -> str:
    """The leaf a transition into `state` lands on: each level's first child in the table.

    For the parallel state that is its first region's initial leaf; the transition's
    `after` callback (Handshake._enter_regions) starts the other regions.
    """
    kids = _children(names, state)
    return _initial_leaf(names, kids[0]) if kids else state


class _Region:
    """One region of the handshake as a flat `transitions.Machine`, shared by every
    Handshake of a dialect in the process.

    The machine holds no model (none is added, so none is kept alive): a Handshake
    passes itself to `events[trigger].trigger(model, event)`, and the machine reads and
    writes the model's `attribute`; guards are named by string ("_guard_x") and looked
    up on that model, so one machine serves every Handshake. Built once per process and
    inherited through fork, so neither a master's new session nor a slave's forked
    child builds a machine.
    """

    def __init__(self, attribute: str, leaves: list[str], initial: str) -> None:
        self.attribute = attribute
        self.leaves = leaves
        self.initial = initial
        self.machine = Machine(model=None, states=leaves, initial=initial,
                               auto_transitions=False, send_event=False,
                               model_attribute=attribute)


class _Compiled:
    """One dialect's tables, compiled once per process into flat region machines and
    indexed for the lookups every event makes.

    Why not one `HierarchicalMachine` (as before): measured with transitions 0.9.3 on the
    2-core development machine (benchmarks/bench_machine.py, one run, load ~2.5), one
    trigger of a hierarchical machine with a parallel state costs ~9x a flat machine's
    (50 us vs 5.5 us), and building one per Handshake cost ~0.2 ms, paid by the master
    per slave and by the slave per child (now 0.5 us: nothing is built). The two regions
    of `up` never share a transition, so they run as two flat machines on two model
    attributes: the first region's machine also holds the states outside `up` (socket,
    pid, pipe, broken); entering `up` lands on the first region's initial leaf and
    starts every other region at its own initial leaf (both derived from STATES' order,
    as the diagrams read them).
    """

    def __init__(self, dialect: str) -> None:
        names = [s.name for s in states_for(dialect)]
        regions = _children(names, _PARALLEL)
        inside = {leaf for region in regions for leaf in _leaves_under(names, region)}
        outside = [n for n in names if not _children(names, n) and n not in inside]
        self.initial = names[0]
        self.regions: tuple[_Region, ...] = tuple(
            _Region(region.removeprefix(_PARALLEL + "_") + "_state",
                    [*outside, *_leaves_under(names, region)] if index == 0
                    else _leaves_under(names, region),
                    self.initial if index == 0 else _initial_leaf(names, region))
            for index, region in enumerate(regions))
        self.region_of: dict[str, _Region] = {leaf: r for r in self.regions for leaf in r.leaves}
        self.transitions = transitions_for(dialect)
        self.allowed: dict[tuple[str, str], TransitionSpec] = {}
        self.triggers_from: dict[str, set[str]] = {leaf: set() for leaf in self.region_of}
        for spec in self.transitions:
            # The tables' "=" means internal (state unchanged); for `transitions` "=" is
            # reflexive (exit and re-enter) and None is internal.
            dest = None if spec.dest == "=" else _initial_leaf(names, spec.dest)
            for source in _leaves_under(names, spec.source):
                region = self.region_of[source]
                if dest is not None and self.region_of[dest] is not region:
                    raise ValueError(f"{spec}: a transition cannot cross into another region")
                enters = dest is not None and dest in inside and source not in inside
                region.machine.add_transition(
                    spec.trigger, source, dest,
                    conditions=["_guard_" + g for g in spec.guards],
                    after="_enter_regions" if enters else None)
                self.allowed[(source, spec.trigger)] = spec
                self.triggers_from[source].add(spec.trigger)
        self.rejections: dict[tuple[str, str], RejectionSpec] = {
            (r.source, r.trigger): r for r in rejections_for(dialect)
        }


#: Built on first use, once per dialect per process (a forked child inherits them).
_COMPILED: dict[str, _Compiled] = {}


def _compiled(dialect: str) -> _Compiled:
    compiled = _COMPILED.get(dialect)
    if compiled is None:
        compiled = _COMPILED[dialect] = _Compiled(dialect)
    return compiled


@attrs.define
class Expectation:
    """What the next P must say; the master fills it in from what it asked for."""

    identifier: str | None = None
    parent_pid: int | None = None
    pid: int | None = None  # the root: the process the master started
    uid: int | None = None  # the master's uid (PID-6)
    group: int | None = None  # the slaves' process group: the root's pid (PID-2)


class Handshake:
    """One slave's handshake, as either side sees it.

    Feed events with `handle()`; read `phase`, `leaves` and `files_open`.
    A broken rule raises a ProtocolError and leaves the machine `broken`.

    The state is one attribute per region of `up` (see `_Compiled`): `result_state`
    (also every state outside `up`) and `files_state` (None until `up` is entered and
    once broken). The shared region machines read and write them.
    """

    result_state: str
    files_state: str | None

    def __init__(self, dialect: Dialect, expect: Expectation | None = None,
                 on_transition: Callable[[str, str, str, TransitionSpec], None] | None = None,
                 ) -> None:
        self.dialect = dialect
        self.expect = expect or Expectation()
        self.error: ProtocolError | None = None
        self.peer_pid: int | None = None
        self._tables = tables = _compiled(dialect.name)
        self._on_transition = on_transition
        # No machine is built here: the dialect's shared region machines drive these.
        for region in tables.regions:
            setattr(self, region.attribute, None)
        self.result_state = tables.initial

    # ---- reading the state ------------------------------------------------

    @property
    def leaves(self) -> list[str]:
        """The active leaf states: one outside `up`, one per region inside it."""
        leaves = [getattr(self, region.attribute) for region in self._tables.regions]
        return [leaf for leaf in leaves if leaf is not None]

    @property
    def phase(self) -> str:
        """The step of the handshake: socket, pid, pipe, action, connected, crashed, closed
        or broken."""
        # The result region's machine also holds every state outside `up`.
        return self.result_state.removeprefix("up_result_")

    @property
    def files_open(self) -> bool:
        return self.files_state == "up_files_open"

    @property
    def finished(self) -> bool:
        """Nothing more can arrive: broken, or every region closed."""
        return self.phase == "broken" or (self.phase == "closed" and not self.files_open)

    def describe_state(self) -> str:
        return ", ".join(self.leaves)

    # ---- feeding events ---------------------------------------------------

    def handle(self, event: Event) -> None:
        """Apply one event, or raise the ProtocolError it is (and become broken).

        A deadline when no step is waiting (connected, or already broken) is no event:
        nothing happens. After the handshake broke, every event is refused citing the
        requirement first broken, not the row's PID-1.
        """
        trigger = trigger_of(event)
        leaves = self.leaves
        if trigger == "timeout" and not self.waiting:
            return
        rejection = self._rejection(leaves, trigger, exact=True)
        if rejection is None and not any((leaf, trigger) in self._tables.allowed
                                         for leaf in leaves):
            rejection = self._rejection(leaves, trigger, exact=False)
            if rejection is None:
                raise ValueError(f"no table row for {trigger!r} in {leaves}")
        if rejection is not None:
            raise self._fail(self._rejection_error(rejection, trigger, event))
        before = self.describe_state() if self._on_transition is not None else ""
        try:
            # Each region with a transition for this trigger takes it, as in a parallel
            # state (a spec hang-up closes both regions).
            for leaf in leaves:
                if (leaf, trigger) in self._tables.allowed:
                    self._tables.region_of[leaf].machine.events[trigger].trigger(self, event)
        except ProtocolError as error:
            raise self._fail(error) from None
        if self._on_transition is not None:
            spec = next(self._tables.allowed[(leaf, trigger)] for leaf in leaves
                        if (leaf, trigger) in self._tables.allowed)
            self._on_transition(before, trigger, self.describe_state(), spec)

    @property
    def waiting(self) -> bool:
        """A step is waiting for the slave: the tables give a timeout a row here."""
        return "broken" not in self.leaves and any(
            self._rejection([leaf], "timeout", exact=True) is not None for leaf in self.leaves)

    def handle_all(self, events: Iterable[Event]) -> None:
        for event in events:
            self.handle(event)

    def allowed_triggers(self) -> list[str]:
        """Triggers with a transition from the current state (for diagrams and trace)."""
        return sorted({trigger for leaf in self.leaves
                       for trigger in self._tables.triggers_from[leaf]})

    def _rejection(self, leaves: list[str], trigger: str, exact: bool) -> RejectionSpec | None:
        for leaf in leaves:
            for state in ([leaf] if exact else _ancestors(leaf)):
                for key in ([trigger] if exact else [trigger, "*"]):
                    found = self._tables.rejections.get((state, key))
                    if found is not None:
                        return found
        return None

    def _rejection_error(self, rejection: RejectionSpec, trigger: str,
                         event: Event) -> ProtocolError:
        cls = _ERROR_CLASSES.get(trigger, UnexpectedEvent)
        data = self.dialect.encode(event) if _is_encodable(event, self.dialect) else None
        reason, requirement = rejection.reason, rejection.requirement
        if isinstance(event, Deadline):
            reason += f" within {event.seconds:g} s"
        first = self.error
        if rejection.source == "broken" and first is not None:
            # What went wrong is still the first rule broken: cite it, not PID-1.
            reason = f"{reason}, after it broke {first.requirement}: {first.reason}"
            requirement = first.requirement
            return cls(reason, culprit=first.culprit, requirement=requirement,
                       state=self.describe_state(), data=data)
        return cls(reason, culprit=_SENDERS[trigger], requirement=requirement,
                   state=self.describe_state(), data=data)

    def _fail(self, error: ProtocolError) -> ProtocolError:
        error.with_state(self.describe_state())
        if self.error is None:
            self.error = error
        for region in self._tables.regions[1:]:
            setattr(self, region.attribute, None)
        self._tables.regions[0].machine.set_state("broken", self)  # (not a model of it)
        return error

    def _enter_regions(self, _event: Event) -> None:
        """After a transition into `up` (named in the compiled rows): every region after
        the first starts at its initial leaf."""
        for region in self._tables.regions[1:]:
            setattr(self, region.attribute, region.initial)

    # ---- guards: each returns True or raises the ProtocolError it found ------

    def _guard_one_fd_passed(self, event: SocketPassed | PipePassed | RunnerPassed) -> bool:
        if isinstance(event, RunnerPassed):
            from zeus_fsm.protocol import command  # see _guard_runner_is_datagram_socket

            command.check_one_fd(event)
            return True
        requirement = "SOCKET-2" if isinstance(event, SocketPassed) else "CHAN-1"
        if len(event.kinds) != 1:
            what = "no fd" if not event.kinds else f"{len(event.kinds)} fds"
            raise BadDescriptor(f"expected exactly one fd, got {what}", culprit=Role.SLAVE,
                                requirement=requirement)
        return True

    def _guard_peer_in_slave_group(self, event: SocketPassed) -> bool:
        """The master signals the socket's maker to stop it: it must be one of the slaves
        (every slave is in the root's process group), or gone already."""
        group = self.expect.group
        if group is not None and event.peer_group is not None and event.peer_group != group:
            raise CredentialsMismatch(
                f"the socket was made by pid {event.peer_pid}, which is not in the slaves' "
                f"process group ({group}) but in {event.peer_group}",
                culprit=Role.SLAVE, requirement="PID-2")
        return True

    def _guard_socket_type_matches_dialect(self, event: SocketPassed) -> bool:
        wanted = self.dialect.slave_socket_kind
        if event.kinds[0] is not wanted:
            raise BadDescriptor(f"expected an {wanted.value}, got: {event.kinds[0].value}",
                                culprit=Role.SLAVE,
                                requirement=self.dialect.socket_type_requirement)
        return True

    def _guard_peer_has_master_uid(self, event: SocketPassed) -> bool:
        self.peer_pid = event.peer_pid
        if self.expect.uid is not None and event.peer_uid != self.expect.uid:
            raise CredentialsMismatch(
                f"the socket's peer has uid {event.peer_uid}, the master's is {self.expect.uid}",
                culprit=Role.SLAVE, requirement="PID-6")
        return True

    def _guard_pid_is_peer(self, event: PidIdentifier) -> bool:
        for source, pid in (("SO_PEERCRED of its socket", self.peer_pid),
                            ("the process the master started", self.expect.pid)):
            if pid is not None and event.pid != pid:
                raise CredentialsMismatch(f"P says pid {event.pid}, {source} says {pid}",
                                          culprit=Role.SLAVE, requirement="PID-2",
                                          data=self.dialect.encode(event))
        return True

    def _guard_identifier_is_expected(self, event: PidIdentifier) -> bool:
        wanted = self.expect.identifier
        if wanted is not None and event.identifier != wanted:
            raise UnexpectedEvent(f"identifier {event.identifier!r}, expected {wanted!r}",
                                  culprit=Role.SLAVE,
                                  requirement=self.dialect.identifier_requirement,
                                  data=self.dialect.encode(event))
        return True

    def _guard_parent_pid_is_expected(self, event: PidIdentifier) -> bool:
        wanted = self.expect.parent_pid
        if wanted is not None and event.parent_pid != wanted:
            raise UnexpectedEvent(f"parent pid {event.parent_pid}, expected {wanted}",
                                  culprit=Role.SLAVE, requirement="PID-5",
                                  data=self.dialect.encode(event))
        return True

    # The runner checks live with the command machine, imported when a runner's socket
    # is judged: importing it with this module put command.py and command_wire.py (and
    # their attrs classes) on every slave's start-up (tests/test_slave_startup.py).

    def _guard_runner_is_datagram_socket(self, event: RunnerPassed) -> bool:
        from zeus_fsm.protocol import command

        command.check_runner_kind(event)
        return True

    def _guard_payload_is_one_nul(self, event: RunnerPassed) -> bool:
        from zeus_fsm.protocol import command

        command.check_runner_payload(event)
        return True

    def _guard_pipe_is_fifo(self, event: PipePassed) -> bool:
        if event.kinds[0] is not FdKind.FIFO:
            raise BadDescriptor(f"expected a pipe, got: {event.kinds[0].value}",
                                culprit=Role.SLAVE, requirement="CHAN-1")
        return True


def _is_encodable(event: Event, dialect: Dialect) -> TypeGuard[Message]:
    """Messages can be shown as the bytes they are on the wire; fd facts cannot."""
    if isinstance(event, PidIdentifier):
        return dialect.has_parent_pid == (event.parent_pid is not None)
    if isinstance(event, LoadedFiles):
        return dialect.files_on_pipe or len(event.paths) == 1
    return isinstance(event, ActionResult | SpawnSlave | SpawnCommand)
