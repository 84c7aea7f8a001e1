"""A spare: the next child slave, forked ahead of its S and waiting for its identifier.

A freshly forked child pays a copy-on-write page fault for every page it writes before
its first step reaches the master (~2.5 us each; see benchmarks/README.md). A spare is
forked by an idle serving slave, pays them at once (a dry run of a child's steps on a
private socketpair: nothing reaches the master and no machine of the tree moves), then
blocks on a pipe from its parent, the **order** pipe. At S the parent writes the
identifier down that pipe and closes it; the spare then runs exactly what a child forked
at S would run. On a second pipe, the **connected** pipe, it writes one byte once it took
its order and closes its end once its R went out: the parent's cue to prepare the next
spare (made earlier, it would take the CPU from the child still booting). EOF with no
byte: the spare died before it took its S, and the parent forks a child for that S.

Lifetime: the spare holds nothing the master watches (the parent's channels are closed
in it) and lives in a process group of its own until its order comes (a spare is not a
slave: the master's group kills and waits are not about it); then it joins its parent's
group, as a forked child is. It ends when the order pipe says EOF without an order (its
parent closed it, or exited) and, should another process hold the write end, when its
parent changes. Its parent reaps it, never as one of its children.

Off unless `ZEUS_FSM_SPARE=1`: a child made from a spare is a snapshot of its parent from
before its S, so anything the parent changed since (a thread's writes, its environment,
its working directory) is not in it. The reference slave's default is the plain reading
of the protocol, a fork at S; the spare is an opt-in saving of about a fork per S.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import time
from collections.abc import Callable
from typing import NoReturn

import attrs

from zeus_fsm.transport import fds as transport
from zeus_fsm.transport.processes import reaped

#: How often an idle spare looks whether its parent is still the one that forked it
#: (EOF on the pipe is how it normally learns; this bounds the wait if a stray fork
#: of its parent, a plan's own, kept the write end open).
PARENT_CHECK = 1.0
#: The whole order must arrive within this long once its first byte did.
ORDER_TIMEOUT = 5.0
#: How long a parent that is ending waits for its spares to exit (bounded, polled).
END_TIMEOUT = 0.5
_END_POLL = 0.001
#: The order: the identifier's length, then the identifier (a parent that dies
#: mid-write leaves a short order, which is no order).
_LENGTH = struct.Struct("!I")
#: Any str round-trips (an identifier may hold what the wire allowed, lone surrogates too).
_ENCODING = ("utf-8", "surrogatepass")
#: On the connected pipe: the spare took its order (it is the child now).
_TAKEN = b"t"

#: What a handed spare's connected pipe said (see `Spare.news`).
PENDING, CONNECTED, LOST = "pending", "connected", "lost"


@attrs.define(eq=False)  # one per process: compared (and hashed) by identity
class Spare:
    """The parent's side of one spare process."""

    pid: int
    #: Write end of the order pipe; None once handed over or retired.
    order: int | None
    #: Read end of the connected pipe: EOF once the child it became sent R (or died).
    connected: int | None
    #: sys.modules' names when it was forked: a child forked at S would have these now.
    modules: tuple[str, ...]
    #: Set by the parent's reaping: it exited before its order.
    gone: bool = False
    #: Once handed over: its S, and whether it said it took it.
    identifier: str | None = None
    taken: bool = False

    @property
    def fds(self) -> tuple[int | None, ...]:
        """This process's ends, which no other fork of it may keep."""
        return (self.order, self.connected)

    def stale(self) -> bool:
        """Would a child forked now differ from it in what counts as loaded? (The parent
        loaded or dropped a module since: the spare's baseline would not be a fork's.)"""
        return tuple(sys.modules) != self.modules

    def hand_over(self, identifier: str) -> bool:
        """Write the order and close the pipe; False when the spare is not there to take
        it (exited, or the pipe broke): then nothing was taken and the caller forks."""
        fd, self.order = self.order, None
        if fd is None or self.gone:  # (dead but not yet reaped: the write says EPIPE)
            transport.close_quietly(fd)
            return False
        self.identifier = identifier
        data = identifier.encode(*_ENCODING)
        try:
            transport.write_bounded(fd, _LENGTH.pack(len(data)) + data, ORDER_TIMEOUT)
        except (OSError, TimeoutError):  # BrokenPipeError: it died before reading
            return False
        finally:
            os.close(fd)
        return True

    def news(self) -> str:
        """Once handed over and its connected pipe readable: PENDING (nothing more, or
        only that it took its S), CONNECTED (EOF after it took it: R went out, or it
        ended as any child may) or LOST (EOF before: it died before it took its S)."""
        data = transport.read_pipe(self.connected) if self.connected is not None else b""
        if data is None:
            return PENDING
        if data:
            self.taken = self.taken or _TAKEN in data
            return PENDING
        return CONNECTED if self.taken else LOST

    def reap(self) -> bool:
        """Reap it if it exited; True once it is gone. Safe from a SIGCHLD handler: it
        touches no fd, and a spare once reaped is never waited for again (its pid may be
        someone else's by then)."""
        if not self.gone and reaped(self.pid):
            self.gone = True
        return self.gone

    def retire(self) -> None:
        """Close this process's ends: an idle spare reads EOF and exits (the caller
        reaps it); a spare handed over is the parent's child and is reaped as one."""
        for fd in self.fds:
            transport.close_quietly(fd)
        self.order = self.connected = None


@attrs.frozen
class Order:
    """In the spare, once its order came: the identifier to boot, and the write end of
    the connected pipe, to close once R went out."""

    identifier: str
    connected: int


def fork(fork_process: Callable[[], int], prepare: Callable[[Callable[[], bool]], None],
         ) -> Spare | Order:
    """Fork a spare with `fork_process` (os.fork's contract). In the parent: its Spare. In the
    spare: after `prepare(ordered)`
    (which closes the parent's channels and pays the page faults; `ordered()` says
    whether the order is there already), it waits for its order and returns it, in its
    parent's process group; it exits if none comes."""
    modules = tuple(sys.modules)
    group = os.getpgrp()
    parent = os.getpid()
    order_read, order_write = os.pipe()
    connected_read, connected_write = os.pipe()
    sys.stdout.flush()  # or the spare would write the parent's buffered output again
    sys.stderr.flush()
    try:
        pid = fork_process()
    except BaseException:
        for fd in (order_read, order_write, connected_read, connected_write):
            os.close(fd)
        raise
    if pid:
        os.close(order_read)
        os.close(connected_write)
        with contextlib.suppress(OSError):  # the spare does it too: whoever runs first
            os.setpgid(pid, pid)
        os.set_blocking(order_write, False)  # the order's write is bounded
        os.set_blocking(connected_read, False)
        return Spare(pid, order_write, connected_read, modules)
    try:
        os.close(order_write)  # else its own pipe would never say EOF
        os.close(connected_read)
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        prepare(lambda: bool(transport.wait_readable([order_read], 0)))
        identifier = _await_order(order_read, parent)
        os.close(order_read)
        if identifier is None:
            _leave()
        os.setpgid(0, group)  # a slave now: in its parent's group, as a forked child is
        os.write(connected_write, _TAKEN)  # the last thing that may fail: then S is forked
    except BaseException as error:  # nothing of a spare may run on into its parent's code
        if isinstance(error, Exception):  # a bug, or no order to take: say which, once
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.write(f"zeus_fsm.slave spare[{os.getpid()}]: "
                                 f"{type(error).__name__}: {error}\n")
                sys.stderr.flush()
        _leave()
    return Order(identifier, connected_write)


def _await_order(read_end: int, parent: int) -> str | None:
    """Block until the order comes; None on EOF without a whole order, or an orphan."""
    while not transport.wait_readable([read_end], PARENT_CHECK):
        if os.getppid() != parent:
            return None
    os.set_blocking(read_end, False)
    clock = transport.Clock(ORDER_TIMEOUT)
    data = b""
    while True:
        chunk = transport.read_pipe(read_end)
        if chunk == b"":
            break
        if chunk is None:
            if clock.expired or not transport.wait_readable([read_end], clock.remaining()):
                return None
            continue
        data += chunk
    if len(data) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack_from(data)
    body = data[_LENGTH.size:]
    return body.decode(*_ENCODING) if len(body) == length else None


def _leave() -> NoReturn:
    os._exit(0)  # no stdio of its own to flush, no atexit of its parent's to run


def await_reaped(spares: set[Spare], timeout: float) -> None:
    """Reap these retired spares (their pipes closed: they are exiting), polling, at most
    `timeout` seconds; those reaped leave the set."""
    deadline = time.monotonic() + timeout
    while True:
        for one in list(spares):
            if one.reap():
                spares.discard(one)
        if not spares or time.monotonic() > deadline:
            return
        time.sleep(_END_POLL)
