"""Processes: the environment a slave is started with, starting it, pidfds, signals, groups.

Facts from the OS (who is alive, in which group, whose child); decisions stay with
the callers' machines. Every wait here is bounded.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from typing import IO, TYPE_CHECKING

import attrs

if TYPE_CHECKING:  # imported when used: the slave's start-up never starts a process
    import subprocess

#: Environment variable naming the master socket's fd in a slave.
MASTER_FD_ENV = "ZEUS_MASTER_FD"
#: Environment variable naming the wire dialect (a convenience for slaves and the CLI).
DIALECT_ENV = "ZEUS_FSM_DIALECT"
#: Environment variable turning the reference slave's spare child on ("1"; slave/spare.py).
SPARE_ENV = "ZEUS_FSM_SPARE"


def spares_enabled(environ: Mapping[str, str]) -> bool:
    """Off unless SPARE_ENV is "1" (a child is then a fork at S, as the protocol reads)."""
    return environ.get(SPARE_ENV, "0").strip() == "1"


def reaped(pid: int) -> bool:
    """Reap `pid` if it exited; True if it is gone (reaped now, or not our child)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return bool(done)

_PR_SET_CHILD_SUBREAPER = 36


def start_slave(command: Sequence[str], env: Mapping[str, str], master_fd: int | None, *,
                cwd: str | None = None, stdout: int | IO[bytes] | None = None,
                stderr: int | IO[bytes] | None = None,
                pass_fds: Sequence[int] = ()) -> subprocess.Popen[bytes]:
    """Start a slave command in a new session (it leads its own process group, so the
    whole tree can be signalled), with `master_fd` inherited as ZEUS_MASTER_FD (None:
    `env` says what ZEUS_MASTER_FD is, if anything: the checker breaks it on purpose)."""
    import subprocess

    env = dict(env)
    fds = list(pass_fds)
    if master_fd is not None:
        env[MASTER_FD_ENV] = str(master_fd)
        fds.append(master_fd)
    return subprocess.Popen(list(command), env=env, cwd=cwd, pass_fds=tuple(fds),
                            stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            start_new_session=True)


def process_handle(pid: int) -> int | None:
    """A pidfd that becomes readable when the process exits (None if it is already gone).

    The spec dialect's SOCK_DGRAM socketpair gives no end-of-file when the peer
    closes, so the master watches the slave's process instead.
    """
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    except OSError as error:  # pragma: no cover - kernels before 5.3
        if error.errno == errno.ENOSYS:
            return None
        raise


def signal_process(handle: int, signum: int) -> bool:
    """Signal a process through its pidfd (no pid-reuse race); False if it is gone."""
    try:
        signal.pidfd_send_signal(handle, signum)
    except ProcessLookupError:
        return False
    return True


def process_group_of(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def process_group_members(pgid: int, zombies: bool = False) -> list[int]:
    """The pids of the processes in a process group, from /proc (zombies only if asked)."""
    members = []
    for entry in os.listdir("/proc"):
        fields = _stat_fields(entry) if entry.isdigit() else None
        if fields is not None and int(fields[2]) == pgid and (zombies or fields[0] != b"Z"):
            members.append(int(entry))
    return members


def become_subreaper() -> bool:
    """PR_SET_CHILD_SUBREAPER: orphans of the processes this one started (a slave whose
    parent slave died) become its children, for it to reap, instead of init's."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_zombie_children(keep: Iterable[int] = ()) -> list[int]:
    """Reap this process's exited children except `keep` (those someone waits on, such as
    a Popen's); the pids reaped. Never blocks."""
    keep = set(keep)
    me = str(os.getpid()).encode()
    reaped = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in keep:
            continue
        fields = _stat_fields(entry)
        if fields is not None and fields[0] == b"Z" and fields[1] == me:
            with suppress(ChildProcessError):
                if os.waitpid(int(entry), os.WNOHANG)[0]:
                    reaped.append(int(entry))
    return reaped


@attrs.frozen
class ProcessFacts:
    """One process as /proc/PID/stat gives it."""

    pid: int
    state: str  # "R", "S", ..., "Z" for a zombie
    ppid: int
    pgid: int
    sid: int
    #: When it started, in clock ticks since boot (to skip what existed before a run).
    started: int

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def process_table_entry(pid: int) -> ProcessFacts | None:
    """One process's facts (None when it is gone, reaped)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return ProcessFacts(pid, fields[0].decode("ascii", "replace"), int(fields[1]),
                        int(fields[2]), int(fields[3]), int(fields[19]))


def process_table() -> dict[int, ProcessFacts]:
    """Every process /proc shows now (those that exit while it is read are left out)."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            facts = process_table_entry(int(entry))
            if facts is not None:
                table[facts.pid] = facts
    return table


def descendants(roots: Iterable[int], table: Mapping[int, ProcessFacts]) -> set[int]:
    """The processes of `table` below any of `roots` by parent pid (the roots excluded)."""
    children: dict[int, list[int]] = {}
    for facts in table.values():
        children.setdefault(facts.ppid, []).append(facts.pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def clock_ticks_now() -> int:
    """Now, in the unit of ProcessFacts.started (clock ticks since boot)."""
    return int(time.clock_gettime(time.CLOCK_BOOTTIME) * os.sysconf("SC_CLK_TCK"))


def has_environment(pid: int, entry: bytes) -> bool:
    """Whether the environment a process started with holds `entry` (b"NAME=value").

    It survives setsid, a new process group and the loss of the parent: what marks
    every process of one run, wherever it went (False when it cannot be read)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as file:
            return entry in file.read().split(b"\0")
    except OSError:
        return False


def reap_child(handle: int) -> bool:
    """Collect an exited child of this process through its pidfd (never blocks); False
    when it is not a child of ours (its own parent collects it) or has not exited."""
    try:
        return os.waitid(os.P_PIDFD, handle, os.WEXITED | os.WNOHANG) is not None
    except ChildProcessError:
        return False


def parent_pid_of(pid: int) -> int | None:
    """The OS parent of a process, from /proc (None when it is gone)."""
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def ancestors_of(pid: int, generations: int = 64) -> list[int]:
    """The OS parents of a process, nearest first, up to pid 1 (empty when it is gone).
    Bounded: a process can exit and its pid be reused while the chain is read."""
    chain: list[int] = []
    parent = parent_pid_of(pid)
    while parent is not None and parent > 0 and len(chain) < generations:
        chain.append(parent)
        parent = parent_pid_of(parent)
    return chain


def wait_group_gone(pgid: int, seconds: float) -> bool:
    """Grandchildren killed with their group die a moment later: wait for it (bounded).
    Nothing signals that, so this looks at /proc every few milliseconds."""
    end = time.monotonic() + seconds
    while process_group_members(pgid):
        if time.monotonic() >= end:
            return False
        time.sleep(0.005)
    return True


def _stat_fields(pid: int | str) -> list[bytes] | None:
    """/proc/PID/stat after the command name: state ppid pgrp ... (None when gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat_line = file.read()
        return stat_line[stat_line.rindex(b")") + 2:].split()
    except (OSError, ValueError):  # it exited while we looked
        return None


def process_exists(pid: int) -> bool:
    """Whether a process with this pid runs (of any user). A zombie does not: it has
    exited, only its parent has not collected its status yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's: it exists
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat_line = file.read()
    except OSError:
        return True  # no /proc to ask: kill() said it exists
    return stat_line[stat_line.rindex(b")") + 2:][:1] != b"Z"



def wait_exit(handle: int, timeout: float) -> bool:
    """Whether the process behind a pidfd exited within `timeout` seconds."""
    poller = select.poll()
    poller.register(handle, select.POLLIN)
    return bool(poller.poll(max(0, int(timeout * 1000))))


def exit_status(wait_status: int) -> int:
    """A waitpid status as a shell reports it: the exit code, or 128+N after signal N."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status) & 0xFF


def kill_group(pgid: int, signum: int = signal.SIGKILL) -> bool:
    """Signal a process group; False when it no longer exists (or is not ours to signal)."""
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def command_problem(command: Sequence[str], cwd: str, env: Mapping[str, str]) -> str | None:
    """Why `command` cannot be started (missing, not executable), or None: checked before
    a running tree is stopped for it, so a bad command never costs what runs."""
    import shutil  # here: at module level it would cost the slave's start-up bz2 and lzma

    program = command[0]
    if os.sep in program:
        path: str | None = program if os.path.isabs(program) else os.path.join(cwd, program)
    else:
        path = shutil.which(program, path=env.get("PATH", os.defpath))
        if path is None:
            return f"{program}: not found on PATH"
    assert path is not None
    if not os.path.exists(path):
        return f"{program}: no such file"
    if os.path.isdir(path) or not os.access(path, os.X_OK):
        return f"{program}: not executable"
    return None
