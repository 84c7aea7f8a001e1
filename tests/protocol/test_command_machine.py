"""The command machine against its own tables: every transition taken, every other
(state, trigger) pair refused with the requirement the rejection rows name, every guard."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zeus_fsm.protocol.command import (
    COMMAND_REJECTIONS,
    COMMAND_STATES,
    COMMAND_TRANSITIONS,
    COMMAND_TRIGGERS,
    Command,
    CommandEvent,
    CommandExpectation,
    rejection_for,
)
from zeus_fsm.protocol.errors import (
    BadDescriptor,
    ProtocolError,
    Role,
    StepTimeout,
    UnexpectedEvent,
)
from zeus_fsm.protocol.errors import ChannelClosed as ChannelClosedError
from zeus_fsm.protocol.events import (
    ChannelClosed,
    ClientFdsPassed,
    CommandEnded,
    Deadline,
    FdKind,
    RunnerPassed,
)
from zeus_fsm.protocol.messages import CommandPid, ExitStatus, RunnerHeader, SpawnCommand
from zeus_fsm.protocol.tables import RejectionSpec, TransitionSpec

SLAVE, RUNNER, COMMAND, CLIENT = 4605, 4700, 4701, 9000
TRIGGERS = [t.name for t in COMMAND_TRIGGERS]
SENDERS = {t.name: t.sender for t in COMMAND_TRIGGERS}
STATES = [s.name for s in COMMAND_STATES]
ERROR_CLASSES = {"timeout": StepTimeout, "hangup": ChannelClosedError}


def event(trigger: str) -> CommandEvent:
    """A well-formed event for `trigger`, as a conforming master and slave produce it."""
    events: dict[str, CommandEvent] = {
        "command": SpawnCommand("hello"),
        "runner": RunnerPassed((FdKind.UNIX_DGRAM,), peer_pid=RUNNER, peer_uid=1000),
        "header": RunnerHeader(CLIENT, 2),
        "fds": ClientFdsPassed((FdKind.UNIX_STREAM,) * 3),
        "pid": CommandPid(COMMAND, SLAVE),
        "ended": CommandEnded(),
        "exit": ExitStatus(3),
        "hangup": ChannelClosed(),
        "timeout": Deadline(2.5),
    }
    return events[trigger]


def run(triggers: list[str]) -> Command:
    machine = Command(CommandExpectation(slave_pid=SLAVE))
    machine.handle_all(event(t) for t in triggers)
    return machine


HAPPY = ["command", "runner", "header", "fds", "pid"]
#: Every state and a path to it (broken: a runner socket before C).
PATHS: dict[str, list[str]] = {
    "idle": [],
    "asked": HAPPY[:1],
    "attached": HAPPY[:2],
    "headed": HAPPY[:3],
    "starting": HAPPY[:4],
    "running": HAPPY,
    "finishing": [*HAPPY, "ended"],
    "exited": [*HAPPY, "exit"],
    "broken": ["runner"],
}
CASES = [(state, trigger) for state in STATES for trigger in TRIGGERS]


def at(state: str) -> Command:
    if state == "broken":
        machine = Command()
        with pytest.raises(ProtocolError):
            machine.handle(event("runner"))
        return machine
    return run(PATHS[state])


def test_paths_reach_their_states_and_every_state_has_one() -> None:
    assert set(PATHS) == set(STATES)
    for state in STATES:
        assert at(state).state == state


def test_reachable_states_are_exactly_the_table_states() -> None:
    seen: set[str] = set()
    queue: deque[list[str]] = deque([[]])
    while queue:
        path = queue.popleft()
        state = run(path).state
        if state in seen:
            continue
        seen.add(state)
        for trigger in TRIGGERS:
            machine = run(path)
            try:
                machine.handle(event(trigger))
            except (ProtocolError, ValueError):
                seen.add(machine.state)
                continue
            queue.append([*path, trigger])
    assert seen == set(STATES)


@pytest.mark.parametrize("row", COMMAND_TRANSITIONS,
                         ids=[f"{r.trigger}:{r.source}->{r.dest}" for r in COMMAND_TRANSITIONS])
def test_transition_row_is_taken(row: TransitionSpec) -> None:
    seen: list[tuple[str, str, str, TransitionSpec]] = []
    machine = Command(CommandExpectation(slave_pid=SLAVE),
                      on_transition=lambda *step: seen.append(step))
    machine.handle_all(event(t) for t in PATHS[row.source])
    assert row.trigger in machine.allowed_triggers()
    machine.handle(event(row.trigger))
    assert machine.state == (row.source if row.dest == "=" else row.dest)
    assert seen[-1] == (row.source, row.trigger, machine.state, row)
    assert machine.error is None


@pytest.mark.parametrize(("state", "trigger"), CASES, ids=[f"{s}-{t}" for s, t in CASES])
def test_every_pair_is_allowed_or_refused_as_the_tables_say(state: str, trigger: str) -> None:
    machine = at(state)
    allowed = any(r.source == state and r.trigger == trigger for r in COMMAND_TRANSITIONS)
    row = rejection_for(state, trigger)
    if allowed:
        assert row is None
        machine.handle(event(trigger))
        return
    if row is None:
        # Only a deadline can have no row: nothing of the slave's is awaited.
        assert trigger == "timeout"
        with pytest.raises(ValueError, match="no step of the command is waiting"):
            machine.handle(event(trigger))
        assert machine.state == state
        return
    first_error = machine.error
    with pytest.raises(ProtocolError) as caught:
        machine.handle(event(trigger))
    error = caught.value
    assert error.requirement == row.requirement
    assert error.reason.startswith(row.reason)
    assert error.culprit is SENDERS[trigger]
    assert type(error) is ERROR_CLASSES.get(trigger, UnexpectedEvent)
    assert error.state == f"command {state}"
    assert machine.state == "broken" and machine.finished
    assert machine.error is (first_error or error)


def test_every_rejection_row_is_used() -> None:
    used = {rejection_for(state, trigger) for state, trigger in CASES}
    assert used - {None} == set(COMMAND_REJECTIONS)


def test_timeouts_are_refused_exactly_where_the_slave_is_awaited() -> None:
    waiting = {state for state in STATES if rejection_for(state, "timeout") is not None
               and state != "broken"}
    assert waiting == {"asked", "starting", "finishing"}  # running has no deadline


def test_tables_cite_only_command_requirements() -> None:
    rows: list[TransitionSpec | RejectionSpec] = [*COMMAND_TRANSITIONS, *COMMAND_REJECTIONS]
    assert {row.requirement.split("-")[0] for row in rows} == {"CMD"}


# ---- what the machine remembers --------------------------------------------------------


def test_a_whole_command_records_runner_pid_header_pid_and_status() -> None:
    machine = run([*HAPPY, "ended", "exit", "hangup", "ended"])
    assert machine.state == "exited"
    assert (machine.runner_pid, machine.pid, machine.status) == (RUNNER, COMMAND, 3)
    assert machine.header == RunnerHeader(CLIENT, 2)
    assert machine.finished


def test_rejection_shows_the_offending_bytes() -> None:
    machine = run(HAPPY)
    with pytest.raises(UnexpectedEvent) as caught:
        machine.handle(CommandPid(COMMAND, SLAVE))
    assert caught.value.data == b"P:4701:4605:\0"
    assert "b'P:4701:4605:\\x00'" in str(caught.value)


def test_deadline_names_its_bound() -> None:
    with pytest.raises(StepTimeout, match=r"no runner socket arrived after C within 2\.5 s"):
        run(["command", "timeout"])


def test_a_runner_that_dies_while_the_command_runs_breaks_cmd_8() -> None:
    machine = run(HAPPY)
    with pytest.raises(ChannelClosedError) as caught:
        machine.handle(ChannelClosed())
    assert (caught.value.requirement, caught.value.culprit) == ("CMD-8", Role.SLAVE)


def test_broken_machine_keeps_its_first_error() -> None:
    machine = run(["command"])
    with pytest.raises(ProtocolError) as first:
        machine.handle(ChannelClosed())
    for trigger in ("runner", "exit", "command"):
        with pytest.raises(ProtocolError):
            machine.handle(event(trigger))
    assert machine.error is first.value
    assert first.value.requirement == "CMD-2"


# ---- guards -----------------------------------------------------------------------------


def refuse(machine: Command, bad: CommandEvent, error_class: type[ProtocolError],
           requirement: str, culprit: Role = Role.SLAVE) -> ProtocolError:
    with pytest.raises(error_class) as caught:
        machine.handle(bad)
    assert caught.value.requirement == requirement
    assert caught.value.culprit is culprit
    assert machine.state == "broken"
    assert machine.error is caught.value
    return caught.value


@pytest.mark.parametrize(("bad", "error_class"), [
    (RunnerPassed(()), BadDescriptor),
    (RunnerPassed((FdKind.UNIX_DGRAM,) * 2), BadDescriptor),
    (RunnerPassed((FdKind.UNIX_STREAM,)), BadDescriptor),
    (RunnerPassed((FdKind.UNIX_SEQPACKET,)), BadDescriptor),
    (RunnerPassed((FdKind.FIFO,)), BadDescriptor),
    (RunnerPassed((FdKind.UNIX_DGRAM,), payload=b""), UnexpectedEvent),
    (RunnerPassed((FdKind.UNIX_DGRAM,), payload=b"\0\0"), UnexpectedEvent),
])
def test_guard_runner_socket(bad: RunnerPassed, error_class: type[ProtocolError]) -> None:
    refuse(run(["command"]), bad, error_class, "CMD-2")


@pytest.mark.parametrize("count", [0, 1, 2, 4])
def test_guard_three_client_fds(count: int) -> None:
    error = refuse(run(HAPPY[:3]), ClientFdsPassed((FdKind.UNIX_STREAM,) * count),
                   BadDescriptor, "CMD-3", Role.MASTER)
    assert "arguments, stdout, stderr" in error.reason


def test_guard_p_names_the_slave_that_got_c() -> None:
    error = refuse(run(HAPPY[:4]), CommandPid(COMMAND, SLAVE + 1), UnexpectedEvent, "CMD-5")
    assert error.data == b"P:4701:4606:\0"


@pytest.mark.parametrize("impostor", [SLAVE, RUNNER])
def test_guard_p_is_the_command_own_pid(impostor: int) -> None:
    refuse(run(HAPPY[:4]), CommandPid(impostor, SLAVE), UnexpectedEvent, "CMD-5")


def test_guards_are_skipped_without_expectations() -> None:
    machine = Command()
    machine.handle_all([SpawnCommand("x"), RunnerPassed((FdKind.UNIX_DGRAM,)),
                        RunnerHeader(CLIENT, 0), ClientFdsPassed((FdKind.OTHER,) * 3),
                        CommandPid(SLAVE, SLAVE + 1), ExitStatus(0)])
    assert machine.state == "exited"


def test_machines_are_independent() -> None:
    first, second = run(HAPPY), Command()
    assert (first.state, second.state) == ("running", "idle")


# ---- any sequence at all ------------------------------------------------------------------

ODD: list[CommandEvent] = [
    RunnerPassed((FdKind.UNIX_STREAM,)), RunnerPassed(()), ClientFdsPassed(()),
    CommandPid(SLAVE, SLAVE), CommandPid(COMMAND, SLAVE + 1), RunnerPassed(
        (FdKind.UNIX_DGRAM,), payload=b"xx"),
]


@given(st.lists(st.sampled_from(TRIGGERS).map(event) | st.sampled_from(ODD), max_size=14))
def test_any_sequence_gives_states_or_protocol_errors(events: list[CommandEvent]) -> None:
    machine = Command(CommandExpectation(slave_pid=SLAVE))
    for item in events:
        before = machine.state
        try:
            machine.handle(item)
        except ProtocolError:
            assert machine.state == "broken" and machine.error is not None
        except ValueError:
            assert isinstance(item, Deadline) and machine.state == before
        assert machine.state in STATES
