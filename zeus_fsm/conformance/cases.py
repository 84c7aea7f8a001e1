"""The conformance cases, as data: one row per case, numbered after spec/handshake.md.

Each case cites one requirement (its level, MUST or SHOULD, comes from
requirements.py) and names the dialects it applies to. Its function drives a
fresh slave through the Judge; it passes by returning. It fails when the
machine raises a ProtocolError (the requirement the slave broke, as the
machine judged it) or when the case's own expectation does not hold
(a Violation, naming its requirement). A case never catches a ProtocolError
to hide it: the only rewrites are a missing reply turned into the rule the
case is about (a hang on an unknown identifier is RESULT-5, not just a slow R).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import attrs

from zeus_fsm.conformance.driver import CommandRun, Judge, Session, Violation
from zeus_fsm.protocol.errors import ChannelClosed, StepTimeout
from zeus_fsm.protocol.escapes import show_bytes
from zeus_fsm.protocol.requirements import BOTH, SECTIONS, SPEC, ZEUS, Requirement, requirement
from zeus_fsm.transport import processes

#: The identifier the checker uses for "an action the plan does not have".
UNKNOWN_IDENTIFIER = "zeus_fsm_check_no_such_action"
#: The command name the checker uses for "a command the plan does not have".
UNKNOWN_COMMAND = "zeus_fsm_check_no_such_command"
#: How often the runner must look for the client (CMD-9: at least once a second).
CLIENT_CHECK_SECONDS = 1.0


class Skipped(Exception):
    """The case cannot judge this slave (its plan identifier is disabled, nothing to judge)."""


@attrs.frozen
class PlanIds:
    """The plan identifiers the cases spawn (empty: the slave's plan has no such action)."""

    ok: str = "child_ok"
    fail: str = "child_fail"
    lazy: str = "child_lazy"
    #: zeus: the command the plan provides for the command cases (spec/CONFORMANCE.md).
    command: str = "zcheck"
    unknown: str = UNKNOWN_IDENTIFIER

    def get(self, role: str) -> str:
        return str(getattr(self, role))


@attrs.frozen
class CaseContext:
    judge: Judge
    ids: PlanIds


@attrs.frozen
class Case:
    id: str  # "<section>.<n>", the section of spec/handshake.md
    requirement: str
    title: str
    run: Callable[[CaseContext], None] = attrs.field(repr=False)
    dialects: frozenset[str] = BOTH
    #: Plan identifiers the case spawns: "ok", "fail", "lazy", "command".
    needs: tuple[str, ...] = ()

    @property
    def section(self) -> str:
        return self.id.split(".")[0]

    @property
    def section_title(self) -> str:
        return SECTIONS[self.section]

    @property
    def rule(self) -> Requirement:
        return requirement(self.requirement)

    @property
    def level(self) -> str:
        return self.rule.level

    def applies_to(self, dialect: str) -> bool:
        return dialect in self.dialects


# ---- shared flows -------------------------------------------------------


def _booted(ctx: CaseContext) -> Session:
    """The root slave, connected (its boot action gave R:OK)."""
    root = ctx.judge.start_root()
    ctx.judge.connected(root, "boot")
    return root


def _child(ctx: CaseContext, role: str, parent: Session | None = None) -> Session:
    """A child spawned for plan identifier `role`, registered (P received, pipe in zeus)."""
    parent = parent or _booted(ctx)
    identifier = ctx.ids.get(role)
    (child,) = ctx.judge.spawn(parent, identifier)
    ctx.judge.advance(child, "pipe")
    return child


def _failed_child(ctx: CaseContext) -> Session:
    """child_fail, with its result in; R:OK breaks RESULT-3."""
    child = _child(ctx, "fail")
    result = ctx.judge.result(child)
    if result.ok:
        raise Violation("RESULT-3", f"R:<error text> from {child.label}, whose action fails",
                        "R:OK")
    return child


# ---- 1. Socket ------------------------------------------------------------


def socket_arrives(ctx: CaseContext) -> None:
    root = ctx.judge.start_root()
    ctx.judge.advance(root, "socket")


BAD_ENVIRONMENTS = ("unset", "not a number", "closed", "not a socket")


def _bad_env_outcomes(ctx: CaseContext) -> list[tuple[str, int | None, bytes]]:
    outcomes = ctx.judge.start_with_bad_env(BAD_ENVIRONMENTS)
    return [(variant, o.returncode, o.stderr)
            for variant, o in zip(BAD_ENVIRONMENTS, outcomes, strict=True)]


def bad_master_fd(ctx: CaseContext) -> None:
    """SOCKET-5: exit non-zero in time. What it prints is 1.5's business."""
    judge = ctx.judge
    for variant, code, _ in _bad_env_outcomes(ctx):
        if code is None:
            actual = f"still running after {judge.timeout:g} s"
        elif code == 0:
            actual = "it exited with status 0"
        else:
            continue
        raise Violation("SOCKET-5", f"with ZEUS_MASTER_FD {variant}, the slave exits non-zero "
                        f"within {judge.timeout:g} s", actual)


def bad_master_fd_message(ctx: CaseContext) -> None:
    """SOCKET-6: one line saying why (a multi-line backtrace says it too, less clearly)."""
    for variant, code, stderr in _bad_env_outcomes(ctx):
        if code is None or code == 0:
            continue  # 1.4 judges that; here only the message counts
        lines = stderr.rstrip(b"\n").split(b"\n")
        if not stderr.strip():
            actual = f"it exited with status {code} and an empty stderr"
        elif len(lines) != 1:
            actual = f"stderr {show_bytes(stderr)} ({len(lines)} lines)"
        else:
            continue
        raise Violation("SOCKET-6", f"with ZEUS_MASTER_FD {variant}, one line on stderr "
                        "saying what is wrong", actual)


# ---- 2. Pid & Identifier ----------------------------------------------------


def root_registers(ctx: CaseContext) -> None:
    """P is judged by the machine: well formed, pid, identifier, parent pid."""
    root = ctx.judge.start_root()
    ctx.judge.advance(root, "pid")


def child_registers(ctx: CaseContext) -> None:
    _child(ctx, "ok")


def sockets_of_master_uid(ctx: CaseContext) -> None:
    """The machine's uid guard judges the root's and a child's socket (PID-6). Only a slave
    that changes its uid can break it, which needs privileges: without them the case
    cannot fail, so it says so instead of passing."""
    if os.geteuid() != 0:
        raise Skipped(f"the checker runs as uid {os.geteuid()} without privileges: a slave it "
                      "starts cannot make its socket as another uid (run as root to judge "
                      "PID-6)")
    child = _child(ctx, "ok")
    ctx.judge.connected(child, ctx.ids.ok)


# ---- 3. Loaded-files channel -------------------------------------------------


def pipe_follows_pid(ctx: CaseContext) -> None:
    root = ctx.judge.start_root()
    ctx.judge.advance(root, "pipe")


# ---- 4. Action Result -------------------------------------------------------


def result_once(ctx: CaseContext) -> None:
    _booted(ctx)
    ctx.judge.settle()  # a second R, or a P after R, would arrive now


def boot_ok(ctx: CaseContext) -> None:
    _booted(ctx)


def result_in_time(ctx: CaseContext) -> None:
    root = ctx.judge.start_root()
    ctx.judge.result(root)


def error_result(ctx: CaseContext) -> None:
    _failed_child(ctx)


def error_text_like_stderr(ctx: CaseContext) -> None:
    child = _failed_child(ctx)
    text = child.result.error if child.result else None
    assert text  # RESULT-3 is enforced when R is decoded
    if not text.endswith("\n"):
        raise Violation("RESULT-4", "an error text of whole lines, each ending in a newline, "
                        "as it would print on stderr",
                        f"R:{show_bytes(text.encode('utf-8', 'surrogateescape'))}, "
                        "whose last line has no newline")


def unknown_identifier(ctx: CaseContext) -> None:
    root = _booted(ctx)
    identifier = ctx.ids.unknown
    (child,) = ctx.judge.spawn(root, identifier)
    try:
        result = ctx.judge.result(child)
    except StepTimeout as error:
        if error.requirement != "RESULT-6":
            raise
        raise Violation("RESULT-5", f"an error result for S:{identifier}, an identifier "
                        f"the plan has no action for, within {ctx.judge.timeout:g} s",
                        f"no R: {error.describe()}") from None
    if result.ok:
        raise Violation("RESULT-5", f"an error result for S:{identifier}, an identifier "
                        "the plan has no action for", "R:OK")


# ---- 5. Loaded Files ---------------------------------------------------------


def _collected_files(ctx: CaseContext) -> list[Session]:
    """The root's boot files and child_lazy's files, the lazy one included if it comes."""
    root = _booted(ctx)
    ctx.judge.settle()
    lazy = _child(ctx, "lazy", root)
    ctx.judge.connected(lazy, ctx.ids.lazy)
    ctx.judge.expecting = f"{lazy.label} reports a file loaded after its result"
    ctx.judge.wait_for(lambda: bool(lazy.files_after_result))  # judged in 5.4, not here
    sessions = [root, lazy]
    if not any(s.files for s in sessions):
        raise Skipped("no loaded files were reported: nothing to judge")
    return sessions


def paths_absolute(ctx: CaseContext) -> None:
    _collected_files(ctx)  # the decoders reject a relative path (FILES-1) as it arrives


def _not_expanded_or_missing(path: bytes) -> bool:
    return os.path.normpath(path) != path or not os.path.exists(path)


def paths_exist(ctx: CaseContext) -> None:
    bad = [(s, p) for s in _collected_files(ctx) for p in s.files if _not_expanded_or_missing(p)]
    if bad:
        raise Violation("FILES-2", "every loaded-file path expanded (no '.', '..' or '//') "
                        "and naming a file that exists",
                        "; ".join(f"{s.label} reported {show_bytes(p)}" for s, p in bad[:5]))


def paths_once(ctx: CaseContext) -> None:
    for session in _collected_files(ctx):
        twice = session.connection.repeated_files
        if twice:
            raise Violation("FILES-3", f"each loaded file reported once by {session.label}",
                            "reported again: " + ", ".join(show_bytes(p) for p in twice[:5]))


def lazy_file(ctx: CaseContext) -> None:
    lazy = _child(ctx, "lazy")
    ctx.judge.connected(lazy, ctx.ids.lazy)
    expected = (f"{lazy.label} reports a file it loads after its result, "
                f"within {ctx.judge.timeout:g} s")
    ctx.judge.expecting = expected
    if not ctx.judge.wait_for(lambda: bool(lazy.files_after_result)):
        before = ", ".join(show_bytes(p) for p in lazy.files[:5]) or "none"
        raise Violation("FILES-6", expected,
                        f"no file after R:OK (files before it: {before})")


def serves_while_reporting(ctx: CaseContext) -> None:
    lazy = _child(ctx, "lazy")
    ctx.judge.connected(lazy, ctx.ids.lazy)
    try:  # right after its result, while it is loading and reporting its lazy file
        grandchild = _child(ctx, "ok", lazy)
        ctx.judge.connected(grandchild, ctx.ids.ok)
    except Violation as violation:
        if violation.requirement != "SPAWN-2":
            raise
        raise Violation("FILES-7", f"{lazy.label}, while it reports loaded files, forks a "
                        f"child for S:{ctx.ids.ok} that registers within "
                        f"{ctx.judge.timeout:g} s", violation.actual) from None
    # Judge the lazy report too if it comes (its absence is 5.4's business, not this case's).
    ctx.judge.expecting = f"{lazy.label} reports a file loaded after its result"
    ctx.judge.wait_for(lambda: bool(lazy.files_after_result))


# ---- 6. Spawning children ----------------------------------------------------


def spawns_child(ctx: CaseContext) -> None:
    child = _child(ctx, "ok")
    ctx.judge.connected(child, ctx.ids.ok)


def two_spawns_one_write(ctx: CaseContext) -> None:
    root = _booted(ctx)
    children = ctx.judge.spawn(root, ctx.ids.ok, count=2)
    for index, child in enumerate(children):
        try:
            ctx.judge.advance(child, "pipe")
        except Violation as violation:
            if violation.requirement != "SPAWN-2":
                raise
            raise Violation("SPAWN-3", f"two registrations after one write of two S:"
                            f"{ctx.ids.ok} messages, within {ctx.judge.timeout:g} s",
                            f"{index} registration(s): {violation.actual}") from None
        ctx.judge.connected(child, ctx.ids.ok)


def command_refused(ctx: CaseContext) -> None:
    root = _booted(ctx)
    ctx.judge.send_command(root, ctx.ids.ok)
    ctx.judge.settle()
    expected = (f"{root.label} refuses C:{ctx.ids.ok} in its log and keeps serving: "
                f"S:{ctx.ids.ok} after it spawns a child")
    if root.phase != "connected":
        raise Violation("SPAWN-4", expected, f"after C its channel is {root.phase}")
    try:
        spawns = _child(ctx, "ok", root)
        ctx.judge.connected(spawns, ctx.ids.ok)
    except Violation as violation:
        if violation.requirement != "SPAWN-2":
            raise
        raise Violation("SPAWN-4", expected, violation.actual) from None


def one_registration_per_spawn(ctx: CaseContext) -> None:
    child = _child(ctx, "ok")
    ctx.judge.connected(child, ctx.ids.ok)
    ctx.judge.settle()
    if ctx.judge.extra_registrations:
        raise Violation("SPAWN-5", f"exactly one registration for one S:{ctx.ids.ok}",
                        f"{1 + len(ctx.judge.extra_registrations)} registrations; the extra: "
                        + "; ".join(ctx.judge.extra_registrations))


# ---- 7. Failure and shutdown ---------------------------------------------------


def closes_after_failure(ctx: CaseContext) -> None:
    ctx.judge.closed(_failed_child(ctx))


def files_of_failed_action(ctx: CaseContext) -> None:
    child = _failed_child(ctx)
    ctx.judge.closed(child)
    if not child.files:
        raise Violation("CRASH-1", f"the files {child.label} loaded before it failed, "
                        "reported before its channel closed",
                        "its channel closed and no loaded file had been reported")


def result_before_exit(ctx: CaseContext) -> None:
    child = _child(ctx, "fail")
    ctx.judge.result(child)


# ---- 8. Framing ---------------------------------------------------------------


#: Long enough that an error text naming it twice exceeds one message, short enough that
#: S carrying it and a text naming it once fit (FRAME-3 caps both at 65536 bytes).
LONG_IDENTIFIER = 40_000


def long_error_truncated(ctx: CaseContext) -> None:
    """An unknown identifier of 40,000 characters: an error text that quotes it can be longer
    than one message, and its sender must cut it (the decoders refuse an oversize message
    as FRAME-3)."""
    root = _booted(ctx)
    identifier = (ctx.ids.unknown + "_" * LONG_IDENTIFIER)[:LONG_IDENTIFIER]
    (child,) = ctx.judge.spawn(root, identifier)
    result = ctx.judge.result(child)
    if result.ok:
        raise Violation("RESULT-5", f"an error result for an S:<{LONG_IDENTIFIER}-character "
                        "identifier> the plan has no action for", "R:OK")


def frames_terminated(ctx: CaseContext) -> None:
    """A root's and a failing child's whole conversation, to the end of the child's stream:
    a frame left without its NUL shows as a step that never completes, or at the end."""
    ctx.judge.closed(_failed_child(ctx))


# ---- 9. Commands (zeus) --------------------------------------------------------------


def _run(ctx: CaseContext, slave: Session, args: list[bytes], *, stdin: bytes | None = b"",
         within: float | None = None, requirement: str = "CMD-7",
         name: str | None = None) -> CommandRun:
    """One command on `slave`, asked for, run and ended: P, status and output in."""
    judge = ctx.judge
    run = judge.launch_command(slave, name or ctx.ids.command, args, stdin)
    return judge.command_done(run, judge.timeout if within is None else within, requirement)


def _zcheck(ctx: CaseContext, slave: Session, *args: bytes, stdin: bytes | None = b"",
            requirement: str = "CMD-7") -> CommandRun:
    """`zcheck ARGS`, whose behaviour spec/CONFORMANCE.md defines: it ends at once."""
    return _run(ctx, slave, list(args), stdin=stdin, requirement=requirement)


def _expect_output(run: CommandRun, requirement: str, what: str, stdout: bytes | None,
                   stderr: bytes | None = None) -> None:
    got = (bytes(run.out), bytes(run.err))
    if (stdout is not None and got[0] != stdout) or (stderr is not None and got[1] != stderr):
        wanted = []
        if stdout is not None:
            wanted.append(f"stdout {show_bytes(stdout)}")
        if stderr is not None:
            wanted.append(f"stderr {show_bytes(stderr)}")
        raise Violation(requirement, f"{what}: {' and '.join(wanted)}",
                        f"{run.label} gave stdout {show_bytes(got[0])} and stderr "
                        f"{show_bytes(got[1])} (exit status {run.status})")


def _argv_case(ctx: CaseContext, *argument_lists: tuple[bytes, ...]) -> None:
    """`zcheck argv A...` echoes each argument and a NUL: the command got them intact.

    A runner that cannot take the arguments and ends without the command's P (the
    Ruby runner on a trailing empty or non-UTF-8 argument: argc mismatch or
    ArgumentError, then SIGTERM to the client) fails CMD-6: the command never ran
    with them.
    """
    root = _booted(ctx)
    for arguments in argument_lists:
        args = [b"argv", *arguments]
        try:
            run = _zcheck(ctx, root, *args)
        except (StepTimeout, ChannelClosed) as error:
            if error.state not in ("command headed", "command starting"):
                raise
            run = ctx.judge.commands[-1]
            raise Violation("CMD-6", f"{run.label} runs with exactly those arguments",
                            f"the command never ran: {error.describe()}{run.client_fate()}",
                            ) from None
        _expect_output(run, "CMD-6", "each argument after argv, each with a NUL",
                       b"".join(a + b"\0" for a in arguments))


def runner_socket(ctx: CaseContext) -> None:
    """CMD-2 is judged as the fd arrives: its kind, its count, the bytes with it."""
    _zcheck(ctx, _booted(ctx), b"exit", b"0")


def command_pid(ctx: CaseContext) -> None:
    """The P of `zcheck cat` (blocked on its stdin, so alive) names a process below the
    slave; the P of `zcheck ids` is the pid the command itself reports."""
    judge = ctx.judge
    root = _booted(ctx)
    run = judge.launch_command(root, ctx.ids.command, [b"cat"], stdin=None)
    judge.command_started(run)  # the machine refuses the slave's or the runner's pid
    assert run.pid is not None and root.pid is not None
    chain = processes.ancestors_of(run.pid)
    expected = (f"the command's P names the process that runs the command, forked below "
                f"{root.label} (pid {root.pid})")
    if root.pid not in chain:
        raise Violation("CMD-5", expected, f"P names pid {run.pid}, whose ancestors are "
                        f"{chain or 'unknown (it is gone)'}")
    judge.close_stdin(run)
    judge.command_done(run, judge.timeout, "CMD-7")
    run = _zcheck(ctx, root, b"ids")
    fields = bytes(run.out).split()
    if len(fields) != 4 or not fields[0].isdigit() or int(fields[0]) != run.pid:
        raise Violation("CMD-5", expected + "; zcheck ids prints that pid first",
                        f"P named pid {run.pid}; zcheck ids printed {show_bytes(bytes(run.out))}")


def command_pid_slave(ctx: CaseContext) -> None:
    """P's middle field, the slave that received C, is judged by the machine as P arrives."""
    _zcheck(ctx, _booted(ctx), b"exit", b"0")


def command_pid_identifier(ctx: CaseContext) -> None:
    """An identifier in the command's P is refused by its decoder (CMD-5)."""
    _zcheck(ctx, _booted(ctx), b"exit", b"0")


def arguments_intact(ctx: CaseContext) -> None:
    _argv_case(ctx, (), (b"a",), (b"one two", b"", b"x", b" spaced "))


def trailing_empty_argument(ctx: CaseContext) -> None:
    _argv_case(ctx, (b"a", b""))


def non_utf8_argument(ctx: CaseContext) -> None:
    _argv_case(ctx, (b"a\xffb", b"\xc3\x28"))


def output_fds(ctx: CaseContext) -> None:
    root = _booted(ctx)
    run = _zcheck(ctx, root, b"stderr", b"to stderr\nno newline")
    _expect_output(run, "CMD-6", "zcheck stderr TEXT writes TEXT on the stderr fd only",
                   b"", b"to stderr\nno newline")
    run = _zcheck(ctx, root, b"argv", b"to stdout")
    _expect_output(run, "CMD-6", "zcheck argv writes on the stdout fd only", b"to stdout\0",
                   b"")


def stdin_is_stdout_fd(ctx: CaseContext) -> None:
    data = bytes(range(256)) * 4
    run = _zcheck(ctx, _booted(ctx), b"cat", stdin=data)
    _expect_output(run, "CMD-6", "zcheck cat copies its stdin (the stdout fd, read to its "
                   "end of file) to its stdout", data, b"")


def _expect_status(run: CommandRun, wanted: int, why: str) -> None:
    if run.status != wanted:
        raise Violation("CMD-7", f"exit status {wanted} for {run.label} ({why})",
                        f"the runner sent {run.status}")


def exit_status(ctx: CaseContext) -> None:
    root = _booted(ctx)
    for code in (0, 3, 255):
        _expect_status(_zcheck(ctx, root, b"exit", str(code).encode()), code,
                       "its exit code")


def signal_status(ctx: CaseContext) -> None:
    run = _zcheck(ctx, _booted(ctx), b"kill", b"15")
    _expect_status(run, 128 + 15, "128+N for a death by signal N: 15 is SIGTERM")


def _blocking_command(ctx: CaseContext, root: Session) -> CommandRun:
    """`zcheck cat` with its stdin left open: a command that runs until told."""
    run = ctx.judge.launch_command(root, ctx.ids.command, [b"cat"], stdin=None)
    ctx.judge.command_started(run)
    return run


def _finish_blocking(ctx: CaseContext, run: CommandRun) -> None:
    ctx.judge.close_stdin(run, b"done")
    ctx.judge.command_done(run, ctx.judge.timeout, "CMD-7")
    _expect_output(run, "CMD-6", "zcheck cat copies its stdin to its stdout", b"done", b"")


def serves_s_during_command(ctx: CaseContext) -> None:
    root = _booted(ctx)
    running = _blocking_command(ctx, root)
    expected = (f"{root.label} forks a child for S:{ctx.ids.ok} that registers within "
                f"{ctx.judge.timeout:g} s while {running.label} runs")
    try:
        child = _child(ctx, "ok", root)
        ctx.judge.connected(child, ctx.ids.ok)
    except Violation as violation:
        if violation.requirement != "SPAWN-2":
            raise
        raise Violation("CMD-10", expected, violation.actual) from None
    _finish_blocking(ctx, running)


def two_commands(ctx: CaseContext) -> None:
    root = _booted(ctx)
    running = _blocking_command(ctx, root)
    try:
        second = _zcheck(ctx, root, b"exit", b"4")
    except (StepTimeout, ChannelClosed) as error:
        if error.requirement not in ("CMD-2", "CMD-5"):
            raise
        raise Violation("CMD-10", f"a second command runs while {running.label} runs",
                        error.describe()) from None
    _expect_status(second, 4, "its exit code")
    if running.state != "running":
        raise Violation("CMD-10", f"{running.label} still runs after a second command",
                        f"its state is {running.state}")
    _finish_blocking(ctx, running)


def client_vanishes(ctx: CaseContext) -> None:
    """The dummy client is killed and reaped; the command must end within the runner's
    check interval and the step timeout. What the runner does next (a status for a
    client that is gone; the Ruby runner sends none) is not judged."""
    judge = ctx.judge
    run = _blocking_command(ctx, _booted(ctx))
    judge.vanish_client(run)
    within = CLIENT_CHECK_SECONDS + judge.timeout
    expected = (f"{run.label} (pid {run.pid}) ends within {within:g} s of its client's end "
                f"(the runner checks for the client at least once a second)")
    judge.expecting = expected
    if not judge.wait_for(lambda: not run.judged, within):
        raise Violation("CMD-9", expected, f"it was still running after {within:g} s")


def unknown_command(ctx: CaseContext) -> None:
    root = _booted(ctx)
    run = _run(ctx, root, [], name=UNKNOWN_COMMAND, requirement="CMD-11")
    if run.status == 0:
        raise Violation("CMD-11", f"a non-zero exit status for {run.label}, a command the "
                        "plan does not have", "exit status 0")
    if not run.err.strip():
        raise Violation("CMD-11", f"a message on the stderr of {run.label}, a command the "
                        "plan does not have", f"exit status {run.status}, stderr empty")


# ---- the catalogue -------------------------------------------------------------

CASES: tuple[Case, ...] = (
    Case("1.1", "SOCKET-2", "The slave sends its socket on ZEUS_MASTER_FD in time, one fd "
         "in one datagram", socket_arrives),
    Case("1.2", "SOCKET-3", "The slave's socket is an AF_UNIX SOCK_DGRAM socket",
         socket_arrives, SPEC),
    Case("1.3", "SOCKET-4", "The slave's socket is an AF_UNIX SOCK_STREAM socket",
         socket_arrives, ZEUS),
    Case("1.4", "SOCKET-5", "A bad ZEUS_MASTER_FD makes the slave exit non-zero in time",
         bad_master_fd),
    Case("1.5", "SOCKET-6", "A bad ZEUS_MASTER_FD is told in one line on stderr",
         bad_master_fd_message),
    Case("2.1", "PID-1", "The first message on the slave's socket is a well-formed P",
         root_registers),
    Case("2.2", "PID-2", "The root's P pid is its socket's peer pid and the process started",
         root_registers),
    Case("2.3", "PID-3", "The root's identifier is blank", root_registers, SPEC),
    Case("2.4", "PID-4", "The root's identifier is boot", root_registers, ZEUS),
    Case("2.5", "PID-5", "The root's parent pid is 0", root_registers, ZEUS),
    Case("2.6", "PID-2", "A child's P pid is its socket's peer pid", child_registers,
         needs=("ok",)),
    Case("2.7", "PID-3", "A child registers with the identifier it was given",
         child_registers, SPEC, ("ok",)),
    Case("2.8", "PID-4", "A child registers with the identifier it was given",
         child_registers, ZEUS, ("ok",)),
    Case("2.9", "PID-5", "A child's parent pid is the pid of the slave that forked it",
         child_registers, ZEUS, ("ok",)),
    Case("2.10", "PID-6", "The root's and a child's sockets belong to the master's uid "
         "(judged when the checker has privileges)", sockets_of_master_uid, needs=("ok",)),
    Case("3.1", "CHAN-1", "Right after P the slave sends the read end of a pipe",
         pipe_follows_pid, ZEUS),
    Case("4.1", "RESULT-1", "R follows P, exactly once", result_once),
    Case("4.2", "RESULT-2", "The root's boot action gives R:OK", boot_ok),
    Case("4.3", "RESULT-3", "A failing action gives R with a non-empty error text",
         error_result, needs=("fail",)),
    Case("4.4", "RESULT-4", "The error text reads like stderr: lines ending in newlines",
         error_text_like_stderr, needs=("fail",)),
    Case("4.5", "RESULT-5", "An unknown identifier gives an error result, not a hang",
         unknown_identifier),
    Case("4.6", "RESULT-6", "R arrives within the step timeout after P", result_in_time),
    Case("5.1", "FILES-1", "Loaded-file paths are absolute, without NUL or newline",
         paths_absolute, needs=("lazy",)),
    Case("5.2", "FILES-2", "Loaded-file paths are expanded and exist", paths_exist,
         needs=("lazy",)),
    Case("5.3", "FILES-3", "Each loaded file is reported once", paths_once, needs=("lazy",)),
    Case("5.4", "FILES-6", "A file loaded lazily after the result is reported", lazy_file,
         needs=("lazy",)),
    Case("5.5", "FILES-7", "The slave serves S while it reports loaded files",
         serves_while_reporting, needs=("lazy", "ok")),
    Case("6.1", "SPAWN-2", "S makes the slave fork a child that registers and boots",
         spawns_child, needs=("ok",)),
    Case("6.2", "SPAWN-3", "Two S in one write both spawn a child", two_spawns_one_write,
         ZEUS, ("ok",)),
    # zeus: C has a wire (handshake.md section 9); a refusal there breaks CMD-2.
    Case("6.3", "SPAWN-4", "An unimplemented C does not crash the slave", command_refused,
         SPEC, ("ok",)),
    Case("6.4", "SPAWN-5", "One S gives exactly one registration", one_registration_per_spawn,
         needs=("ok",)),
    Case("7.1", "CRASH-1", "After a failed result the slave closes its channel",
         closes_after_failure, needs=("fail",)),
    Case("7.2", "CRASH-1", "A failed action's loaded files arrive before its channel closes",
         files_of_failed_action, needs=("fail",)),
    Case("7.3", "CRASH-3", "A failing slave sends R before it exits", result_before_exit,
         needs=("fail",)),
    Case("8.1", "FRAME-2", "Every message on the stream ends with a NUL byte",
         frames_terminated, ZEUS, ("fail",)),
    Case("8.2", "FRAME-3", "A message is at most 65536 bytes: a long error text is truncated "
         "by its sender", long_error_truncated),
    Case("9.1", "CMD-2", "C gets one fd: the runner's AF_UNIX SOCK_DGRAM socket, on one "
         "NUL byte", runner_socket, ZEUS, ("command",)),
    Case("9.2", "CMD-5", "The command's P gives its own pid, a process below the slave",
         command_pid, ZEUS, ("command",)),
    Case("9.3", "CMD-5", "The command's P names the slave that received C",
         command_pid_slave, ZEUS, ("command",)),
    Case("9.4", "CMD-5", "The command's P has an empty identifier", command_pid_identifier,
         ZEUS, ("command",)),
    Case("9.5", "CMD-6", "Arguments arrive intact: none, spaces, an empty one", arguments_intact,
         ZEUS, ("command",)),
    Case("9.6", "CMD-6", "A trailing empty argument arrives", trailing_empty_argument, ZEUS,
         ("command",)),
    Case("9.7", "CMD-6", "Arguments that are not UTF-8 arrive as their bytes", non_utf8_argument,
         ZEUS, ("command",)),
    Case("9.8", "CMD-6", "stdout and stderr are the passed fds, each its own", output_fds, ZEUS,
         ("command",)),
    Case("9.9", "CMD-6", "stdin is the stdout fd, read to its end of file", stdin_is_stdout_fd,
         ZEUS, ("command",)),
    Case("9.10", "CMD-7", "The exit status is relayed exactly", exit_status, ZEUS,
         ("command",)),
    Case("9.11", "CMD-7", "A death by signal N gives exit status 128+N", signal_status, ZEUS,
         ("command",)),
    Case("9.12", "CMD-10", "The slave serves S while a command runs", serves_s_during_command,
         ZEUS, ("command", "ok")),
    Case("9.13", "CMD-10", "A second command runs while one runs", two_commands, ZEUS,
         ("command",)),
    Case("9.14", "CMD-9", "The command ends when its client process is gone", client_vanishes,
         ZEUS, ("command",)),
    Case("9.15", "CMD-11", "An unknown command ends with an error status, not a hang",
         unknown_command, ZEUS, ("command",)),
)

BY_ID: dict[str, Case] = {case.id: case for case in CASES}


def cases_for(dialect: str) -> list[Case]:
    return [case for case in CASES if case.applies_to(dialect)]


def select(dialect: str, pattern: str | None) -> list[Case]:
    """The dialect's cases matching PATTERN: comma-separated, case-insensitive substrings of a
    case's id, requirement or title (`-k 2.` is section 2, `-k PID-5`, `-k lazy`)."""
    cases = cases_for(dialect)
    if not pattern:
        return cases
    words = [w.strip().lower() for w in pattern.split(",") if w.strip()]
    return [case for case in cases if any(_matches(case, w) for w in words)]


def _matches(case: Case, word: str) -> bool:
    """A whole case id (`9.1`) is that case only, not 9.10 to 9.15; anything else is a
    substring of the id (`9.` is section 9), the requirement or the title."""
    if re.fullmatch(r"\d+\.\d+", word):
        return case.id == word or word in case.requirement.lower() or word in case.title.lower()
    return any(word in field.lower() for field in (case.id, case.requirement, case.title))
