"""The handshake machine against its own tables: every transition taken, every other
(state, trigger) pair refused with the requirement the REJECTIONS table names, every guard."""

from __future__ import annotations

import sys
import threading
import weakref
from collections import deque

import pytest

from zeus_fsm.protocol.dialects import DIALECT_NAMES, Dialect, get_dialect
from zeus_fsm.protocol.errors import (
    BadDescriptor,
    CredentialsMismatch,
    ProtocolError,
    Role,
    StepTimeout,
    UnexpectedEvent,
)
from zeus_fsm.protocol.errors import ChannelClosed as ChannelClosedError
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
from zeus_fsm.protocol.lifecycle import Lifecycle
from zeus_fsm.protocol.machine import (
    STATES,
    TRIGGERS,
    Expectation,
    Handshake,
    _compiled,
    rejections_for,
    states_for,
    transitions_for,
)
from zeus_fsm.protocol.messages import (
    ActionResult,
    LoadedFiles,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.protocol.tables import RejectionSpec, TransitionSpec

PID, UID = 4605, 1000
TRIGGER_NAMES = [t.name for t in TRIGGERS]
SENDERS = {t.name: t.sender for t in TRIGGERS}
Config = tuple[str, ...]


def event(trigger: str, wire: Dialect) -> Event:
    """A well-formed event for `trigger`, as a conforming root slave would produce it."""
    zeus = wire.name == "zeus"
    events: dict[str, Event] = {
        "socket": SocketPassed((FdKind.UNIX_STREAM if zeus else FdKind.UNIX_DGRAM,),
                               peer_pid=PID, peer_uid=UID),
        "pid": PidIdentifier(PID, wire.root_identifier, 0 if zeus else None),
        "pipe": PipePassed((FdKind.FIFO,)),
        "ok": ActionResult(),
        "fail": ActionResult("boom.rb:1:in 'x': nope (RuntimeError)\n"),
        "files": LoadedFiles((b"/app/a.rb", b"/app/b.rb")),
        "spawn": SpawnSlave("child"),
        "command": SpawnCommand("console"),
        "runner": RunnerPassed((FdKind.UNIX_DGRAM,), peer_pid=PID + 1, peer_uid=UID),
        "hangup": ChannelClosed(),
        "pipeclose": PipeClosed(),
        "timeout": Deadline(2.5),
    }
    return events[trigger]


def expectation(wire: Dialect) -> Expectation:
    return Expectation(identifier=wire.root_identifier, parent_pid=0 if wire.has_parent_pid
                       else None, pid=PID, uid=UID)


def run(wire: Dialect, triggers: tuple[str, ...] | list[str]) -> Handshake:
    machine = Handshake(wire, expectation(wire))
    for trigger in triggers:
        machine.handle(event(trigger, wire))
    return machine


# Every configuration the machine can be in, and a way to get there: the designed state
# space, written down here so a test can check the machine reaches exactly these.
REGISTER = {"spec": ["socket", "pid"], "zeus": ["socket", "pid", "pipe"]}
CONFIGS: dict[str, dict[Config, list[str]]] = {
    "spec": {
        ("socket",): [],
        ("pid",): ["socket"],
        ("up_result_action", "up_files_open"): REGISTER["spec"],
        ("up_result_connected", "up_files_open"): [*REGISTER["spec"], "ok"],
        ("up_result_crashed", "up_files_open"): [*REGISTER["spec"], "fail"],
        ("up_result_closed", "up_files_done"): [*REGISTER["spec"], "fail", "hangup"],
    },
    "zeus": {
        ("socket",): [],
        ("pid",): ["socket"],
        ("pipe",): ["socket", "pid"],
        ("up_result_action", "up_files_open"): REGISTER["zeus"],
        ("up_result_connected", "up_files_open"): [*REGISTER["zeus"], "ok"],
        ("up_result_crashed", "up_files_open"): [*REGISTER["zeus"], "fail"],
        ("up_result_closed", "up_files_open"): [*REGISTER["zeus"], "ok", "hangup"],
        ("up_result_action", "up_files_done"): [*REGISTER["zeus"], "pipeclose"],
        ("up_result_connected", "up_files_done"): [*REGISTER["zeus"], "ok", "pipeclose"],
        ("up_result_command", "up_files_open"): [*REGISTER["zeus"], "ok", "command"],
        ("up_result_command", "up_files_done"): [*REGISTER["zeus"], "ok", "pipeclose",
                                                 "command"],
        ("up_result_crashed", "up_files_done"): [*REGISTER["zeus"], "fail", "pipeclose"],
        ("up_result_closed", "up_files_done"): [*REGISTER["zeus"], "ok", "hangup",
                                                "pipeclose"],
    },
}
for _name in DIALECT_NAMES:
    CONFIGS[_name][("broken",)] = ["pid"]  # P before the socket breaks the handshake

CASES = [(name, config, trigger) for name in DIALECT_NAMES for config in CONFIGS[name]
         for trigger in TRIGGER_NAMES]


# ---- what the tables say should happen -------------------------------------------


def ancestors(state: str) -> list[str]:
    parts = state.split("_")
    return ["_".join(parts[:i]) for i in range(len(parts), 0, -1)]


def has_transition(name: str, config: Config, trigger: str) -> bool:
    return any(t.trigger == trigger and t.source in config for t in transitions_for(name))


def expected_rejection(name: str, config: Config, trigger: str) -> RejectionSpec | None:
    """The row that refuses `trigger` in `config`, or None if the tables allow it / are silent.

    A row naming the trigger at a current leaf refuses it even when another region has a
    transition; otherwise the trigger is refused only when no region has a transition,
    by the most specific row (deepest state, then the trigger's own name over "*").
    """
    rows = rejections_for(name)
    exact = [r for r in rows if r.trigger == trigger and r.source in config]
    if not exact and has_transition(name, config, trigger):
        return None
    candidates = exact or [r for r in rows if r.trigger in (trigger, "*")
                           and any(r.source in ancestors(leaf) for leaf in config)]
    if not candidates:
        return None

    def specificity(row: RejectionSpec) -> tuple[int, bool]:
        return row.source.count("_"), row.trigger == trigger

    best = max(map(specificity, candidates))
    chosen = [r for r in candidates if specificity(r) == best]
    assert len({r.requirement for r in chosen}) == 1, f"ambiguous rows {chosen}"
    return chosen[0]


def covered_rows(name: str, before: Config, trigger: str, after: Config) -> set[TransitionSpec]:
    """The table rows a step took: their source was left for their dest (or kept, for '=')."""
    reached = {state for leaf in after for state in ancestors(leaf)}
    return {t for t in transitions_for(name) if t.trigger == trigger and t.source in before
            and (t.source if t.dest == "=" else t.dest) in reached}


# ---- the state space --------------------------------------------------------------


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_machine_states_are_the_table_states_with_no_phantoms(name: str) -> None:
    # The engine runs each region of `up` as its own flat machine: together they hold
    # every leaf once, and the leaves' ancestors are exactly the table's other states.
    leaves = [leaf for region in _compiled(name).regions for leaf in region.machine.states]
    assert len(leaves) == len(set(leaves))
    built = {state for leaf in leaves for state in ancestors(leaf)}
    assert built == {s.name for s in states_for(name)}
    zeus_only = {"pipe", "up_result_command"}
    assert {s.name for s in STATES} - built == (zeus_only if name == "spec" else set())


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_reachable_configurations_are_exactly_the_designed_ones(name: str) -> None:
    wire = get_dialect(name)
    seen: set[Config] = set()
    queue: deque[list[str]] = deque([[]])
    while queue:
        path = queue.popleft()
        config = tuple(run(wire, path).leaves)
        if config in seen:
            continue
        seen.add(config)
        for trigger in TRIGGER_NAMES:
            machine = run(wire, path)
            try:
                machine.handle(event(trigger, wire))
            except (ProtocolError, ValueError):
                seen.add(tuple(machine.leaves))  # broken (or unchanged)
                continue
            queue.append([*path, trigger])
    assert seen == set(CONFIGS[name])


@pytest.mark.parametrize(("name", "config"), [(n, c) for n in DIALECT_NAMES for c in CONFIGS[n]])
def test_each_configuration_is_reached_by_its_path(name: str, config: Config) -> None:
    wire = get_dialect(name)
    path = CONFIGS[name][config]
    if config == ("broken",):
        with pytest.raises(ProtocolError):
            run(wire, path)
        return
    assert tuple(run(wire, path).leaves) == config


def test_phases_name_every_step() -> None:
    phases = {run(get_dialect("zeus"), path).phase
              for config, path in CONFIGS["zeus"].items() if config != ("broken",)}
    assert phases == {"socket", "pid", "pipe", "action", "connected", "command", "crashed",
                      "closed"}


# ---- transitions --------------------------------------------------------------------

ROWS = [(name, row) for name in DIALECT_NAMES for row in transitions_for(name)]


@pytest.mark.parametrize(("name", "row"), ROWS,
                         ids=[f"{n}-{r.trigger}:{r.source}->{r.dest}" for n, r in ROWS])
def test_transition_row_is_taken(name: str, row: TransitionSpec) -> None:
    wire = get_dialect(name)
    config = next(c for c in CONFIGS[name]
                  if row.source in c and expected_rejection(name, c, row.trigger) is None)
    seen: list[TransitionSpec] = []
    machine = Handshake(wire, expectation(wire), on_transition=lambda *a: seen.append(a[3]))
    machine.handle_all(event(t, wire) for t in CONFIGS[name][config])
    assert row.trigger in machine.allowed_triggers()
    machine.handle(event(row.trigger, wire))
    assert row in covered_rows(name, config, row.trigger, tuple(machine.leaves))
    assert machine.error is None
    assert seen[-1].trigger == row.trigger  # the callback reports the step


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_every_transition_row_is_exercised(name: str) -> None:
    wire = get_dialect(name)
    covered: set[TransitionSpec] = set()
    for config, path in CONFIGS[name].items():
        if config == ("broken",):
            continue
        for trigger in TRIGGER_NAMES:
            machine = run(wire, path)
            try:
                machine.handle(event(trigger, wire))
            except (ProtocolError, ValueError):
                continue
            covered |= covered_rows(name, config, trigger, tuple(machine.leaves))
    assert covered == set(transitions_for(name))


# ---- rejections ---------------------------------------------------------------------

ERROR_CLASSES = {"timeout": StepTimeout, "hangup": ChannelClosedError,
                 "pipeclose": ChannelClosedError}


@pytest.mark.parametrize(("name", "config", "trigger"), CASES,
                         ids=[f"{n}-{'+'.join(c)}-{t}" for n, c, t in CASES])
def test_every_pair_is_allowed_or_refused_as_the_tables_say(
        name: str, config: Config, trigger: str) -> None:
    wire = get_dialect(name)
    machine = run(wire, CONFIGS[name][config]) if config != ("broken",) else None
    if machine is None:
        machine = Handshake(wire)
        with pytest.raises(ProtocolError):
            machine.handle(event("pid", wire))
    row = expected_rejection(name, config, trigger)
    if row is None and has_transition(name, config, trigger):
        machine.handle(event(trigger, wire))
        assert covered_rows(name, config, trigger, tuple(machine.leaves))
        return
    if row is None or (trigger == "timeout" and config == ("broken",)):
        # Only a deadline can have no row: no step is waiting, so it is no event at all.
        assert trigger == "timeout"
        machine.handle(event(trigger, wire))
        assert tuple(machine.leaves) == config
        return
    first_error = machine.error
    with pytest.raises(ProtocolError) as caught:
        machine.handle(event(trigger, wire))
    error = caught.value
    if first_error is not None:  # broken: the first broken rule is still what is cited
        assert (error.requirement, error.culprit) == (first_error.requirement,
                                                      first_error.culprit)
        assert error.reason.startswith(row.reason)
        assert first_error.reason in error.reason
    else:
        assert error.requirement == row.requirement
        assert error.reason.startswith(row.reason)
        assert error.culprit is SENDERS[trigger]
    assert type(error) is ERROR_CLASSES.get(trigger, UnexpectedEvent)
    assert error.state is not None
    assert machine.phase == "broken"
    assert machine.finished
    assert machine.error is (first_error or error)


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_every_rejection_row_is_used(name: str) -> None:
    used = {expected_rejection(name, config, trigger)
            for config in CONFIGS[name] for trigger in TRIGGER_NAMES}
    assert used - {None} == set(rejections_for(name))


def test_rejection_shows_the_offending_bytes_when_a_message() -> None:
    wire = get_dialect("zeus")
    machine = run(wire, REGISTER["zeus"])
    with pytest.raises(UnexpectedEvent) as caught:
        machine.handle(SpawnSlave("early"))
    assert caught.value.data == b"S:early\0"
    assert "b'S:early\\x00'" in str(caught.value)


def test_rejection_of_an_unencodable_batch_has_no_bytes() -> None:
    wire = get_dialect("spec")  # spec encodes one path per F datagram
    machine = run(wire, CONFIGS["spec"][("up_result_closed", "up_files_done")])
    with pytest.raises(UnexpectedEvent) as caught:
        machine.handle(LoadedFiles((b"/a", b"/b")))
    assert caught.value.requirement == "FILES-4"
    assert caught.value.data is None


def test_deadline_names_its_bound() -> None:
    machine = Handshake(get_dialect("spec"))
    with pytest.raises(StepTimeout, match=r"within 2\.5 s"):
        machine.handle(Deadline(2.5))


def test_broken_machine_keeps_its_first_error() -> None:
    wire = get_dialect("spec")
    machine = run(wire, REGISTER["spec"])
    with pytest.raises(ProtocolError) as first:
        machine.handle(ChannelClosed())
    for trigger in ("ok", "files", "pid", "hangup"):
        with pytest.raises(ProtocolError) as later:
            machine.handle(event(trigger, wire))
        # Every later event cites the first broken requirement, not PID-1.
        assert later.value.requirement == "CRASH-3"
        assert later.value.culprit is Role.SLAVE
        assert "after it broke CRASH-3" in later.value.reason
        assert first.value.reason in later.value.reason
    assert machine.error is first.value
    assert first.value.requirement == "CRASH-3"


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_a_deadline_with_no_step_waiting_is_no_event(name: str) -> None:
    wire = get_dialect(name)
    machine = run(wire, [*REGISTER[name], "ok"])
    before = machine.describe_state()
    machine.handle(Deadline(1.0))  # connected: nothing waits; once a ValueError
    assert machine.describe_state() == before and machine.error is None
    with pytest.raises(ProtocolError):
        machine.handle(ChannelClosed())
        machine.handle(ChannelClosed())
    machine.handle(Deadline(1.0))  # broken: nothing waits either
    assert machine.phase == "broken"


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_a_socket_made_outside_the_slaves_process_group_is_pid2(name: str) -> None:
    """The group check is a guard of the tables, cited the same by master and checker."""
    wire = get_dialect(name)
    expect = Expectation(group=100)
    inside = Handshake(wire, expect)
    inside.handle(SocketPassed((wire.slave_socket_kind,), peer_pid=101, peer_group=100))
    gone = Handshake(wire, expect)  # a maker already gone cannot be signalled: no harm
    gone.handle(SocketPassed((wire.slave_socket_kind,), peer_pid=101, peer_group=None))
    outside = Handshake(wire, expect)
    with pytest.raises(CredentialsMismatch) as caught:
        outside.handle(SocketPassed((wire.slave_socket_kind,), peer_pid=7, peer_group=7))
    assert (caught.value.requirement, caught.value.culprit) == ("PID-2", Role.SLAVE)
    assert "made by pid 7" in caught.value.reason and outside.phase == "broken"
    # Before the socket type: the master's own socket sent back is PID-2 in both dialects.
    wrong_type = Handshake(wire, expect)
    other = FdKind.UNIX_DGRAM if name == "zeus" else FdKind.UNIX_STREAM
    with pytest.raises(CredentialsMismatch):
        wrong_type.handle(SocketPassed((other,), peer_pid=7, peer_group=7))


# ---- guards -------------------------------------------------------------------------


def registered_up_to(wire: Dialect, step: str, expect: Expectation) -> Handshake:
    machine = Handshake(wire, expect)
    for trigger in REGISTER[wire.name][: REGISTER[wire.name].index(step)]:
        machine.handle(event(trigger, wire))
    return machine


def refuse(machine: Handshake, bad: Event, error_class: type[ProtocolError],
           requirement: str) -> ProtocolError:
    with pytest.raises(error_class) as caught:
        machine.handle(bad)
    assert caught.value.requirement == requirement
    assert caught.value.culprit is Role.SLAVE
    assert machine.phase == "broken"
    assert machine.error is caught.value
    return caught.value


def good_kind(wire: Dialect) -> FdKind:
    return FdKind.UNIX_STREAM if wire.name == "zeus" else FdKind.UNIX_DGRAM


@pytest.mark.parametrize(("name", "wrong", "requirement"), [
    ("spec", FdKind.UNIX_STREAM, "SOCKET-3"), ("spec", FdKind.FIFO, "SOCKET-3"),
    ("zeus", FdKind.UNIX_DGRAM, "SOCKET-4"), ("zeus", FdKind.REGULAR_FILE, "SOCKET-4"),
    ("zeus", FdKind.UNIX_SEQPACKET, "SOCKET-4"),
])
def test_guard_wrong_socket_type(name: str, wrong: FdKind, requirement: str) -> None:
    wire = get_dialect(name)
    refuse(Handshake(wire, expectation(wire)),
           SocketPassed((wrong,), peer_pid=PID, peer_uid=UID), BadDescriptor, requirement)


@pytest.mark.parametrize("count", [0, 2, 3])
def test_guard_socket_needs_exactly_one_fd(dialect: Dialect, count: int) -> None:
    refuse(Handshake(dialect, expectation(dialect)),
           SocketPassed((good_kind(dialect),) * count, peer_pid=PID, peer_uid=UID),
           BadDescriptor, "SOCKET-2")


def test_guard_uid_mismatch(dialect: Dialect) -> None:
    refuse(Handshake(dialect, expectation(dialect)),
           SocketPassed((good_kind(dialect),), peer_pid=PID, peer_uid=UID + 1),
           CredentialsMismatch, "PID-6")


def test_guard_uid_unchecked_without_expectation(dialect: Dialect) -> None:
    machine = Handshake(dialect)
    machine.handle(SocketPassed((good_kind(dialect),), peer_pid=PID, peer_uid=UID + 1))
    assert machine.phase == "pid"


def p_message(wire: Dialect, pid: int = PID, identifier: str | None = None,
              parent_pid: int = 0) -> PidIdentifier:
    return PidIdentifier(pid, wire.root_identifier if identifier is None else identifier,
                         parent_pid if wire.has_parent_pid else None)


def test_guard_pid_differs_from_peer(dialect: Dialect) -> None:
    machine = registered_up_to(dialect, "pid", Expectation())
    error = refuse(machine, p_message(dialect, pid=PID + 1), CredentialsMismatch, "PID-2")
    assert "SO_PEERCRED" in error.reason
    assert error.data == dialect.encode(p_message(dialect, pid=PID + 1))


def test_guard_pid_differs_from_started_process(dialect: Dialect) -> None:
    machine = Handshake(dialect, Expectation(pid=PID + 7))
    machine.handle(SocketPassed((good_kind(dialect),)))  # no SO_PEERCRED known
    error = refuse(machine, p_message(dialect), CredentialsMismatch, "PID-2")
    assert "the process the master started" in error.reason


@pytest.mark.parametrize(("name", "requirement"), [("spec", "PID-3"), ("zeus", "PID-4")])
def test_guard_wrong_identifier(name: str, requirement: str) -> None:
    wire = get_dialect(name)
    machine = registered_up_to(wire, "pid", expectation(wire))
    refuse(machine, p_message(wire, identifier="not_root"), UnexpectedEvent, requirement)


def test_guard_child_identifier_must_be_the_one_given() -> None:
    wire = get_dialect("spec")
    machine = registered_up_to(wire, "pid", Expectation(identifier="child"))
    refuse(machine, p_message(wire, identifier=""), UnexpectedEvent, "PID-3")


def test_guard_wrong_parent_pid() -> None:
    wire = get_dialect("zeus")
    machine = registered_up_to(wire, "pid", expectation(wire))
    refuse(machine, p_message(wire, parent_pid=77), UnexpectedEvent, "PID-5")


@pytest.mark.parametrize("kind", [FdKind.UNIX_STREAM, FdKind.REGULAR_FILE, FdKind.OTHER])
def test_guard_pipe_not_a_fifo(kind: FdKind) -> None:
    wire = get_dialect("zeus")
    machine = registered_up_to(wire, "pipe", expectation(wire))
    refuse(machine, PipePassed((kind,)), BadDescriptor, "CHAN-1")


@pytest.mark.parametrize("count", [0, 2])
def test_guard_pipe_needs_exactly_one_fd(count: int) -> None:
    wire = get_dialect("zeus")
    machine = registered_up_to(wire, "pipe", expectation(wire))
    refuse(machine, PipePassed((FdKind.FIFO,) * count), BadDescriptor, "CHAN-1")


@pytest.mark.parametrize(("bad", "error_class"), [
    (RunnerPassed(()), BadDescriptor),
    (RunnerPassed((FdKind.UNIX_DGRAM,) * 2), BadDescriptor),
    (RunnerPassed((FdKind.UNIX_STREAM,)), BadDescriptor),
    (RunnerPassed((FdKind.FIFO,)), BadDescriptor),
    (RunnerPassed((FdKind.UNIX_DGRAM,), payload=b"\0\0"), UnexpectedEvent),
    (RunnerPassed((FdKind.UNIX_DGRAM,), payload=b"x"), UnexpectedEvent),
])
def test_guard_runner_socket_after_c(bad: RunnerPassed, error_class: type[ProtocolError]) -> None:
    wire = get_dialect("zeus")
    machine = run(wire, [*REGISTER["zeus"], "ok", "command"])
    assert machine.phase == "command"
    refuse(machine, bad, error_class, "CMD-2")


def test_zeus_command_waits_for_its_runner_then_serves_again() -> None:
    wire = get_dialect("zeus")
    machine = run(wire, [*REGISTER["zeus"], "ok", "command", "spawn", "runner", "command"])
    assert machine.phase == "command"
    with pytest.raises(UnexpectedEvent) as caught:
        machine.handle(SpawnCommand("second"))
    assert (caught.value.requirement, caught.value.culprit) == ("CMD-1", Role.MASTER)
    assert caught.value.data == b"C:second\0"


def test_spec_command_leaves_the_slave_connected() -> None:
    machine = run(get_dialect("spec"), [*REGISTER["spec"], "ok", "command", "command"])
    assert machine.phase == "connected"


def test_good_expectations_pass_every_guard(dialect: Dialect) -> None:
    machine = run(dialect, [*REGISTER[dialect.name], "ok"])
    assert machine.phase == "connected"
    assert machine.peer_pid == PID


# ---- batches and the view of the state ------------------------------------------------


def test_one_event_carries_a_large_batch(dialect: Dialect) -> None:
    machine = run(dialect, REGISTER[dialect.name])
    steps: list[str] = []
    machine._on_transition = lambda before, trigger, after, spec: steps.append(trigger)
    machine.handle(LoadedFiles(tuple(b"/app/f%d.rb" % i for i in range(5000))))
    assert steps == ["files"]
    assert machine.files_open


def test_files_are_accepted_before_and_after_the_result_and_after_failure() -> None:
    wire = get_dialect("zeus")
    machine = run(wire, [*REGISTER["zeus"], "files", "fail", "files", "hangup", "files"])
    assert (machine.phase, machine.files_open) == ("closed", True)
    machine.handle(PipeClosed())
    assert machine.finished


def test_spec_hangup_closes_both_regions() -> None:
    machine = run(get_dialect("spec"), [*REGISTER["spec"], "ok", "files", "spawn"])
    assert not machine.finished
    machine.handle(ChannelClosed())
    assert (machine.phase, machine.files_open, machine.finished) == ("closed", False, True)


def test_machines_are_independent(dialect: Dialect) -> None:
    first = run(dialect, [*REGISTER[dialect.name], "ok"])
    second = Handshake(dialect)
    assert (first.phase, second.phase) == ("connected", "socket")
    assert first.describe_state() == "up_result_connected, up_files_open"


def test_region_machines_are_shared_and_keep_no_handshake(dialect: Dialect) -> None:
    """One flat machine per region serves every Handshake of a dialect: none is added to
    it as a model, so a finished Handshake is freed, not kept alive by the machine."""
    machine = run(dialect, [*REGISTER[dialect.name], "ok", "files"])
    gone = weakref.ref(machine)
    regions = _compiled(dialect.name).regions
    assert Handshake(dialect)._tables.regions is regions
    assert all(region.machine.models == [] for region in regions)
    del machine
    assert gone() is None  # freed at once: no reference cycle either


def test_lifecycles_share_one_machine_and_keep_no_model() -> None:
    first, second = Lifecycle(), Lifecycle()
    for trigger in ("start", "register", "succeed"):
        first.fire(trigger)
    assert (first.state, second.state) == ("connected", "unbooted")
    assert first._machine is second._machine
    assert first._machine.models == []


def test_shared_machines_serve_handshakes_in_many_threads(dialect: Dialect) -> None:
    """The checker runs cases in threads, each with its own Handshakes on the same shared
    region machines: a trigger keeps nothing on the machine (no queue), so they do not mix."""
    path = [*REGISTER[dialect.name], "ok", "files"]
    seen: list[str] = []

    def handshakes() -> None:
        for _ in range(100):
            seen.append(run(dialect, path).describe_state())

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter can
    try:
        threads = [threading.Thread(target=handshakes) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        sys.setswitchinterval(interval)
    assert seen == ["up_result_connected, up_files_open"] * 400
