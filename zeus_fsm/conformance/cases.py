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
from collections.abc import Callable

import attrs

from zeus_fsm.conformance.driver import Judge, Session, Violation
from zeus_fsm.protocol.errors import StepTimeout
from zeus_fsm.protocol.escapes import show_bytes
from zeus_fsm.protocol.requirements import BOTH, SECTIONS, SPEC, ZEUS, Requirement, requirement

#: The identifier the checker uses for "an action the plan does not have".
UNKNOWN_IDENTIFIER = "zeus_fsm_check_no_such_action"


class Skipped(Exception):
    """The case cannot judge this slave (its plan identifier is disabled, nothing to judge)."""


@attrs.frozen
class PlanIds:
    """The plan identifiers the cases spawn (empty: the slave's plan has no such action)."""

    ok: str = "child_ok"
    fail: str = "child_fail"
    lazy: str = "child_lazy"
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
    #: Plan identifiers the case spawns: "ok", "fail", "lazy".
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


def frames_terminated(ctx: CaseContext) -> None:
    """A root's and a failing child's whole conversation, to the end of the child's stream:
    a frame left without its NUL shows as a step that never completes, or at the end."""
    ctx.judge.closed(_failed_child(ctx))


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
    return [case for case in cases
            if any(w in field.lower() for w in words
                   for field in (case.id, case.requirement, case.title))]
