"""The Python reference slave: `python -m zeus_fsm.slave --plan MODULE:CLASS [--dialect D]`.

Every step goes through the slave's own machine.Handshake before it goes on the
wire: the slave feeds its machine exactly what the master will receive, so it
cannot break a rule of the handshake without raising first::

    env -> socketpair, remote over the master socket -> P -> [pipe, zeus]
        -> action -> R -> serve S (each forks a child that starts over at the socketpair)
                         and, zeus, C (each forks a runner: see runner.py)

With `ZEUS_FSM_SPARE=1` in its environment, a slave that has forked a child keeps a
spare (spare.py): its next child, forked while it is idle and waiting for an S; that S
then costs no fork. Off by default: each S forks, as the protocol reads.

Start-up imports only what talking needs: no click, no diagrams, no hypothesis.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, NoReturn

import attrs

from zeus_fsm.protocol.dialects import DIALECT_NAMES, Dialect, get_dialect
from zeus_fsm.protocol.errors import BadEnvironment, ProtocolError, Role, UnexpectedEvent
from zeus_fsm.protocol.events import (
    UNIX_SOCKETS,
    ChannelClosed,
    Deadline,
    Event,
    FdKind,
    PipeClosed,
    PipePassed,
    RunnerPassed,
    SocketPassed,
)
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import (
    ActionResult,
    LoadedFiles,
    Message,
    PidIdentifier,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.slave.tracking import FileTracker
from zeus_fsm.transport import fds as transport
from zeus_fsm.transport import processes
from zeus_fsm.transport.processes import DIALECT_ENV

if TYPE_CHECKING:  # spare.py is loaded only when spares are on (see main)
    from zeus_fsm.slave.spare import Spare

DEFAULT_PLAN = "zeus_fsm.examples.demo:DemoPlan"

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_ENV = 2
#: A command line it cannot run (as argparse exits).
EXIT_USAGE = 2

#: A handshake message the master does not take within this many seconds: give up.
SEND_TIMEOUT = 5.0
#: One loaded-files send by the reporter; what does not go out is retried later.
REPORT_TIMEOUT = 1.0
#: The last loaded files, before R:<error> and before closing the channel.
FLUSH_TIMEOUT = 5.0
#: The serve loop wakes at least this often (children are also reaped on SIGCHLD).
SERVE_TICK = 0.5
#: After a fork, the serve loop prepares the next child (its Slave, its spare process) once
#: nothing came for this long.
SPARE_DELAY = 0.005
#: The identifier of a spare's dry run (see `rehearse`); it never reaches the master.
REHEARSAL = "rehearsal"
_SIGTERM = {signal.SIGTERM}
#: CHAN-1: the pipe's fd rides on one NUL byte.
PIPE_PAYLOAD = b"\0"
#: CMD-2: so does the runner's socket (protocol.command.RUNNER_PAYLOAD, not imported:
#: the command machine stays off the slave's start-up path).
RUNNER_PAYLOAD = b"\0"



def log(message: str) -> None:
    """One line on stderr; a log nobody reads any more is no reason to stop serving."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"zeus_fsm.slave[{os.getpid()}]: {message}\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------
# Set-up: the master socket from the environment
# --------------------------------------------------------------------------


def master_socket_from_env(environ: Mapping[str, str]) -> socket.socket:
    """SOCKET-5: the inherited master socket, or BadEnvironment saying what is wrong."""
    env = processes.MASTER_FD_ENV
    raw = environ.get(env)
    if raw is None:
        raise BadEnvironment(f"{env} is not set")
    try:
        fd = int(raw)
    except ValueError:
        raise BadEnvironment(f"{env}={raw!r} is not a number") from None
    if fd < 0 or not transport.fd_is_open(fd):
        raise BadEnvironment(f"{env}={fd} is not an open file descriptor (closed)")
    kind = transport.fd_kind(fd)
    if kind not in UNIX_SOCKETS:
        raise BadEnvironment(f"{env}={fd} is a {kind.value}, not an AF_UNIX socket")
    return transport.adopt_socket(fd)


def watch_master(master: socket.socket) -> int | None:
    """A pidfd for the process that made the master socket (SO_PEERCRED of a socketpair).

    A SOCK_DGRAM socket gives no end-of-file when its peer closes (spec), so
    the master's exit is how a slave learns that nobody will send S any more.
    """
    try:
        pid = transport.peer_credentials(master).pid
    except OSError:
        return None
    if pid <= 0 or pid == os.getpid():
        return None
    return processes.process_handle(pid)


@attrs.define
class World:
    """What every slave of one tree shares, inherited through fork."""

    dialect: Dialect
    master: socket.socket
    plan_ref: str
    master_watch: int | None
    plan: object | None = None  # set by the root's action
    #: Fork the next child ahead of its S (spare.py; on with ZEUS_FSM_SPARE=1).
    spares: bool = False


# --------------------------------------------------------------------------
# The plan: one method per identifier
# --------------------------------------------------------------------------


def load_plan(ref: str) -> object:
    module_name, _, class_name = ref.partition(":")
    return getattr(importlib.import_module(module_name), class_name)()


def plan_action(plan: object, identifier: str, what: str = "action") -> Callable[[], object]:
    """The plan's method for an identifier (or, `what="command"`, a command's name).

    RESULT-5: an identifier with no action raises here, inside the action; CMD-11:
    a command the plan lacks raises here, inside the command.
    """
    method = None
    if identifier.isidentifier() and not identifier.startswith("_"):
        method = getattr(plan, identifier, None)
    if not callable(method):
        raise LookupError(f"plan {type(plan).__qualname__} has no {what} {identifier!r}")
    return method  # type: ignore[no-any-return]


def _plan_frames(tb: TracebackType | None) -> TracebackType | None:
    """Drop the slave's own frames from the top: the traceback starts in the plan."""
    while tb is not None and tb.tb_frame.f_globals is globals():
        tb = tb.tb_next
    return tb


def error_text(error: BaseException, dialect: Dialect) -> str:
    """R's error text: the traceback as Python prints it to stderr, cut to fit FRAME-3."""
    text = "".join(traceback.format_exception(error))
    # A NUL would end a zeus frame early; the console would not show one either.
    return dialect.truncate_error(text.replace("\0", "\\0"))


# --------------------------------------------------------------------------
# One slave process
# --------------------------------------------------------------------------


class Slave:
    """One slave process: its own socket (and pipe), handshake, loaded files, children."""

    def __init__(self, world: World, identifier: str, parent_pid: int | None) -> None:
        self.world = world
        self.dialect = world.dialect
        self.identifier = identifier
        # pid: set by run(), in the process that runs this slave (a child's Slave is
        # made by its parent, before the fork).
        self.handshake = Handshake(world.dialect, Expectation(
            identifier=identifier, parent_pid=parent_pid, uid=os.getuid()))
        # The reporter thread feeds the machine too; held only around handle(), never I/O.
        self.lock = threading.Lock()
        self.local: socket.socket | None = None
        self.pipe: int | None = None
        self.children: set[int] = set()
        #: zeus: the last C's runner and the read end of its notice pipe, until the runner
        #: says its socket went out (the handshake waits for that socket: CMD-1, CMD-2).
        self.runner_notice: tuple[int, int] | None = None
        #: The next child's Slave, made while idle (see `next_child`).
        self.next_slave: Slave | None = None
        #: The next child's process, forked while idle and waiting for its S (spare.py):
        #: only once this slave has forked a child (it is asked again: restarts re-send S).
        self.spare: Spare | None = None
        self.spares_wanted = False
        #: The last spare handed an S, until its R went out (the connected pipe's EOF).
        self.handed: Spare | None = None
        #: In a child that was a spare: the connected pipe's write end, closed after R.
        self.connected_notice: int | None = None
        #: Spares retired, not yet reaped: never children (nothing to report).
        self.spares_ending: set[Spare] = set()
        #: `_on_sigterm` is this process's SIGTERM handler (set with the first spare).
        self.ends_spares_on_sigterm = False
        report = self._report_lines if self.dialect.files_on_pipe else self._report_datagrams
        self.tracker = FileTracker(report)

    @property
    def channel(self) -> socket.socket:
        assert self.local is not None, "the slave's socket is made in send_socket"
        return self.local

    def run(self) -> int:
        """The whole life of this slave; returns its exit code."""
        self.handshake.expect.pid = os.getpid()
        self.send_socket()
        self.send_pid()
        if self.dialect.files_on_pipe:
            self.send_pipe()
        error = self.run_action()
        if error is not None:
            return self.crash(error)
        self.send(ActionResult())
        self.say_connected()
        self.tracker.start_reporter()
        return self.serve()

    # ---- talking: the machine first, then the wire ---------------------------

    def feed(self, event: Event) -> None:
        with self.lock:
            self.handshake.handle(event)

    def send(self, message: Message) -> None:
        self.feed(message)
        transport.send_polled(self.channel, self.dialect.encode(message), SEND_TIMEOUT)

    # ---- the handshake, one step each ------------------------------------------

    def send_socket(self) -> None:
        """Step 1: a new socketpair; `remote` goes to the master, one fd in one datagram."""
        local, remote = transport.slave_socketpair(self.dialect.slave_socket_kind)
        self.local = local
        try:
            peer = transport.peer_credentials(remote)
            self.feed(SocketPassed(kinds=(transport.socket_kind(remote),),
                                   payload=self.dialect.socket_payload,
                                   peer_pid=peer.pid, peer_uid=peer.uid))
            transport.send_fds_polled(self.world.master, self.dialect.socket_payload,
                                      [remote.fileno()], SEND_TIMEOUT)
        finally:
            remote.close()

    def send_pid(self) -> None:
        """Step 2: P with this process's pid (and, in zeus, the forking slave's pid)."""
        expect = self.handshake.expect
        self.send(PidIdentifier(pid=os.getpid(), identifier=self.identifier,
                                parent_pid=expect.parent_pid))

    def send_pipe(self) -> None:
        """zeus, right after P: the read end of the loaded-files pipe (CHAN-1)."""
        read_end, write_end = transport.make_pipe()
        self.pipe = write_end
        transport.set_nonblocking(write_end)  # the reporter's writes are bounded
        try:
            self.feed(PipePassed(kinds=(transport.fd_kind(read_end),)))
            transport.send_fds_polled(self.channel, PIPE_PAYLOAD, [read_end], SEND_TIMEOUT)
        finally:
            transport.close_quietly(read_end)

    def run_action(self) -> BaseException | None:
        """Step 3: the root loads the plan and runs `boot`; a child runs its identifier."""
        self.tracker.start_action()
        try:
            if self.world.plan is None:
                self.world.plan = load_plan(self.world.plan_ref)
                plan_action(self.world.plan, "boot")()
            else:
                plan_action(self.world.plan, self.identifier)()
        except BaseException as error:  # SystemExit and KeyboardInterrupt fail it too
            return error.with_traceback(_plan_frames(error.__traceback__))
        return None

    def crash(self, error: BaseException) -> int:
        """CRASH-1: the files loaded so far and those in the traceback, R, then close."""
        self.tracker.note_traceback(error)
        text = error_text(error, self.dialect)
        self.tracker.flush(FLUSH_TIMEOUT)
        self.send(ActionResult(error=text))
        return self.close(EXIT_FAILED)

    # ---- loaded files (called by the tracker, from the reporter thread too) -------
    # The machine sees one event per batch, not one per path: a trigger costs tens
    # of microseconds and an application can load thousands of files.

    def _report_datagrams(self, paths: Sequence[bytes]) -> int:
        """spec: one F datagram per path (FILES-4)."""
        self.feed(LoadedFiles(tuple(paths)))
        for count, path in enumerate(paths):
            try:
                transport.send_polled(self.channel, self.dialect.encode(LoadedFiles((path,))),
                                      REPORT_TIMEOUT)
            except TimeoutError:
                return count
        return len(paths)

    def _report_lines(self, paths: Sequence[bytes]) -> int:
        """zeus: lines on the pipe (FILES-5), in atomic writes of whole lines."""
        assert self.pipe is not None, "the pipe is made in send_pipe"
        self.feed(LoadedFiles(tuple(paths)))
        sent = 0
        for chunk in _line_chunks(paths, transport.PIPE_BUF):
            message = LoadedFiles(chunk)
            try:
                transport.write_bounded(self.pipe, self.dialect.encode(message), REPORT_TIMEOUT)
            except TimeoutError:
                return sent
            sent += len(chunk)
        return sent

    # ---- connected: serving S and C ------------------------------------------------

    def serve(self) -> int:
        """Until the master goes away: fork a child per S, a runner per C (zeus; spec
        refuses C in the log), reap children."""
        signal.signal(signal.SIGCHLD, self._on_sigchld)
        decoder = self.dialect.channel_decoder(Role.MASTER)
        local = self.channel.fileno()
        watch = self.world.master_watch
        self.next_slave = self.next_child()
        while True:
            notice = None if self.runner_notice is None else self.runner_notice[1]
            handed = None if self.handed is None else self.handed.connected
            # The next child waits for a quiet moment, or for the spare just handed an S
            # to have sent R: made at once, it would take the CPU from the child just
            # forked (2 cores, measured).
            ready = transport.wait_readable(
                [fd for fd in (local, watch, notice, handed) if fd is not None],
                SERVE_TICK if self.prepared or handed is not None else SPARE_DELAY)
            self.reap()
            self.forget_dead_spare()
            if handed is not None and handed in ready:
                self.follow_handed()
            if not self.prepared and self.handed is None and (not ready or handed in ready):
                self.prepare()
            if notice is not None and notice in ready:  # before the stream: the next C
                self.settle_runner(0)
            if local in ready:
                received = transport.receive(self.channel, 0)
                if received is None:
                    continue
                received.close()  # a master passes no fds to a slave: keep none
                if received.eof:  # the master closed its end
                    return self.close(EXIT_OK)
                if received.data:
                    self.obey_all(decoder.feed, received.data)
            elif watch is not None and watch in ready:  # spec: no EOF, the master exited
                return self.close(EXIT_OK)

    def obey_all(self, decode: Callable[[bytes], list[Message]], data: bytes) -> None:
        """SPAWN-3: every message of one read, even those before a bad one."""
        try:
            messages = decode(data)
        except ProtocolError as error:
            for message in error.salvaged:
                self.obey(message)  # type: ignore[arg-type]
            raise
        for message in messages:
            self.obey(message)

    def obey(self, message: Message) -> None:
        if isinstance(message, SpawnSlave):
            self.feed(message)
            self.spawn(message.identifier)
        elif isinstance(message, SpawnCommand) and self.dialect.runs_commands:
            self.start_command(message.identifier)
        elif isinstance(message, SpawnCommand):
            self.feed(message)
            log(f"refusing C:{message.identifier}: the {self.dialect.name} dialect has no "
                "wire for commands (SPAWN-4); still serving S")
        else:
            raise UnexpectedEvent(f"the master sent {type(message).__name__}, which only a "
                                  "slave sends", culprit=Role.MASTER, requirement="FRAME-1",
                                  state=self.handshake.describe_state())

    def next_child(self) -> Slave:
        """A child's Slave (Handshake, tracker, locks), made in this process, unforked.

        A process just forked pays a copy-on-write page fault for every page it writes,
        and Python writes to every object it touches (reference counts): measured here,
        building a Slave in the child cost ~0.3 ms and listing sys.modules for its tracker
        ~0.25 ms, before its first step. Made by the parent while idle, none of it is in
        the child's way; its locks are free at the fork (nothing of it runs until then).
        """
        child = Slave(self.world, "", os.getpid() if self.dialect.has_parent_pid else None)
        child.tracker.share_baseline(self.tracker)
        return child

    @property
    def prepared(self) -> bool:
        """The next child is ready: its Slave, and its spare process when one is wanted."""
        return self.next_slave is not None and (not self.spares_wanted or self.spare is not None)

    def prepare(self) -> None:
        if self.next_slave is None:
            self.next_slave = self.next_child()
        if self.spares_wanted and self.spare is None:
            self.fork_spare(self.next_slave)

    def spawn(self, identifier: str) -> None:
        """SPAWN-2: a child that boots `identifier`, the spare if it is there and current,
        else forked now; this process keeps serving."""
        self.spares_wanted = self.world.spares
        ready, self.spare = self.spare, None
        if ready is not None:
            if not ready.stale() and ready.hand_over(identifier):
                self.next_slave = None  # the spare runs its copy
                self.children.add(ready.pid)
                self.forget_handed()
                self.handed = ready
                return
            ready.retire()
            self.spares_ending.add(ready)
        child, self.next_slave = self.next_slave or self.next_child(), None
        child.identifier = child.handshake.expect.identifier = identifier
        child.tracker.keep_baseline()  # the modules this process has now are not the child's
        sys.stdout.flush()  # or the child would write the parent's buffered output again
        sys.stderr.flush()
        pid = self.fork()
        if pid == 0:  # the child never returns into this (its parent's) serve loop
            _run_child(child, self.drop_parents)
        self.children.add(pid)

    # ---- spares (spare.py) ------------------------------------------------------------

    def fork_spare(self, child: Slave) -> None:
        """Fork the next child ahead of its S. In the spare, once its order came, run
        `child` as a child forked at S would; in this process, keep the Spare."""
        child.tracker.keep_baseline()  # as at a fork: the modules loaded now are not its
        if not self.ends_spares_on_sigterm:
            signal.signal(signal.SIGTERM, self._on_sigterm)
            self.ends_spares_on_sigterm = True
        from zeus_fsm.slave import spare  # loaded at start-up when spares are on

        try:
            made = spare.fork(self.fork, lambda ordered: self.become_spare(child, ordered))
        except OSError as error:  # a spare is a saving, not a need: S forks as before
            log(f"no spare ({error}): the next S forks")
            self.spares_wanted = False
            return
        if isinstance(made, spare.Spare):
            self.spare = made
            return
        child.identifier = child.handshake.expect.identifier = made.identifier
        child.connected_notice = made.connected
        _run_child(child)

    def become_spare(self, child: Slave, ordered: Callable[[], bool]) -> None:
        """In the spare, before it waits: drop the parent's, pay the page faults."""
        self.drop_parents()
        self.rehearse(child, ordered)

    def rehearse(self, child: Slave, ordered: Callable[[], bool]) -> None:
        """A dry run of a child's steps up to R, over a private socketpair and with a
        machine of its own: the child's own steps then find most pages they write (the
        machines' tables, transitions, the transport) already copied. Nothing of it
        reaches the master; `child` itself is only looked at. It stops early when the
        order is there: the child's steps would wait for the rest (S came back to back).
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        dry = Slave(attrs.evolve(self.world, master=theirs), REHEARSAL,
                    child.handshake.expect.parent_pid)
        steps: list[Callable[[], None]] = [dry.send_socket, dry.send_pid,
                                           lambda: dry.send(ActionResult())]
        if self.dialect.files_on_pipe:
            steps.insert(2, dry.send_pipe)
        try:
            dry.handshake.expect.pid = os.getpid()
            for step in steps:
                if ordered():
                    return
                step()
        finally:
            for item in (dry.local, dry.pipe, ours, theirs):
                transport.close_quietly(item)

    def forget_dead_spare(self) -> None:
        """A spare that exited before its order (killed from outside): the next S forks,
        and the spare after it comes after that S (no fork loop if spares keep dying)."""
        if self.spare is not None and self.spare.gone:
            self.spare.retire()
            self.spare = None
            self.spares_wanted = False

    def follow_handed(self) -> None:
        """The spare last handed an S: it took it (a byte), then R went out (EOF). EOF
        before the byte: it died before it read its S; a child forked now takes it."""
        from zeus_fsm.slave import spare

        assert self.handed is not None
        news = self.handed.news()
        if news == spare.PENDING:
            return
        lost, pid = self.handed.identifier, self.handed.pid
        self.forget_handed()
        if news == spare.LOST and lost is not None:
            log(f"spare {pid} ended before it took S:{lost}; forking a child for it")
            self.spawn(lost)

    def forget_handed(self) -> None:
        """The last spare handed an S is connected (or gone): its connected pipe is done."""
        if self.handed is not None:
            self.handed.retire()
            self.handed = None

    def say_connected(self) -> None:
        """A child that was a spare: R went out, its parent may prepare the next spare."""
        transport.close_quietly(self.connected_notice)
        self.connected_notice = None

    @property
    def spare_fds(self) -> tuple[int | None, ...]:
        """This process's ends of its spares' pipes: no other fork of it may keep them."""
        return tuple(fd for one in (self.spare, self.handed) if one is not None
                     for fd in one.fds)

    def end_spares(self) -> None:
        """Close the spare's pipe (EOF: it exits) and reap every spare left, bounded:
        this process must reap them, or they would be zombies left to init."""
        self.forget_handed()  # a child now: reaped as one
        if self.spare is not None:
            self.spare.retire()
            self.spares_ending.add(self.spare)
            self.spare = None
        if self.spares_ending:
            from zeus_fsm.slave import spare

            spare.await_reaped(self.spares_ending, spare.END_TIMEOUT)

    def _on_sigterm(self, signum: int, _frame: FrameType | None) -> None:
        """Installed with the first spare: end the spares, then die of SIGTERM as before.
        (Only in this process: `fork` gives every fork of it SIGTERM's default.)"""
        self.end_spares()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def fork(self) -> int:
        """os.fork, the child born with SIGTERM's default, as every fork was before spares:
        the handler that ends this process's spares is not a child's (nor a runner's,
        whose SIGTERM a client may send at any time). SIGTERM is blocked meanwhile, so
        none can find this process without its handler."""
        if not self.ends_spares_on_sigterm:
            return os.fork()
        signal.pthread_sigmask(signal.SIG_BLOCK, _SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        pid = -1
        try:
            pid = os.fork()
        finally:
            if pid != 0:  # here (the fork failed, too): a SIGTERM that came meanwhile
                signal.signal(signal.SIGTERM, self._on_sigterm)  # runs it at the unblock
            else:
                self.ends_spares_on_sigterm = False
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGTERM)
        return pid

    def start_command(self, name: str) -> None:
        """CMD-2: fork a runner for C:<name>; this process goes on serving S and C (CMD-10)."""
        from zeus_fsm.slave import runner  # only once a C arrives: start-up stays light

        self.settle_runner(SEND_TIMEOUT)  # the previous C's runner socket went out first
        self.feed(SpawnCommand(name))
        notice_read, notice_write = os.pipe()
        slave_pid = os.getpid()
        sys.stdout.flush()
        sys.stderr.flush()
        with self.lock:  # the child's copy of the handshake is not caught mid-feed
            pid = self.fork()
        if pid == 0:  # the runner never returns into this serve loop
            try:
                os.close(notice_read)
                self.tracker.detach()
                runner.run(runner.RunnerSetup(
                    stream=self.channel, name=name, slave_pid=slave_pid, plan=self.world.plan,
                    handshake=self.handshake, notice=notice_write,
                    foreign=(self.world.master, self.world.master_watch, self.pipe,
                             self.connected_notice, *self.spare_fds), log=log))
            except BaseException:
                traceback.print_exc()
            _exit(EXIT_FAILED)
        os.close(notice_write)
        os.set_blocking(notice_read, False)
        self.children.add(pid)
        self.runner_notice = (pid, notice_read)

    def settle_runner(self, timeout: float) -> None:
        """Take the pending runner's notice: its socket went out, so the handshake is back
        to connected. `timeout` > 0 waits for it (bounded); 0 takes it only if it is there.

        A runner that ended without sending its socket breaks CMD-2 for this slave: the
        handshake says so and the slave closes (the master would wait for nothing).
        """
        if self.runner_notice is None:
            return
        pid, notice = self.runner_notice
        if timeout and not transport.wait_readable([notice], timeout):
            self.runner_notice = None
            transport.close_quietly(notice)
            self._stop_runner(pid)
            self.feed(Deadline(timeout))  # raises: no runner socket after C (CMD-2)
        data = transport.read_pipe(notice, 1)
        if data is None:
            return  # woken for nothing; still pending
        self.runner_notice = None
        transport.close_quietly(notice)
        if data:
            self.feed(RunnerPassed((FdKind.UNIX_DGRAM,), RUNNER_PAYLOAD, peer_pid=pid,
                                   peer_uid=os.getuid()))
            return
        log(f"runner {pid} ended before it sent its socket (CMD-2); closing")
        self.feed(ChannelClosed())  # raises: the slave closes before the runner socket

    def _stop_runner(self, pid: int) -> None:
        """A runner stuck before its socket: kill it (its own session: nobody else will).
        Only while it is an unreaped child of ours, so the pid cannot be someone else's."""
        if pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def drop_parents(self) -> None:
        """In a process forked from this slave (a child, a spare): drop what is the parent's.

        The parent's reporter thread did not survive the fork; the child's tracker has
        its own locks and starts its own thread, and reports only its own files. The
        parent's SIGCHLD handler stays until the child serves (serve sets its own): with
        no children to reap here, it does nothing (resetting it costs the child ~0.1 ms
        of page faults in the signal module's enum wrappers before its first step).
        """
        self.children = set()  # the parent's, not ours to reap
        self.spares_ending = set()
        transport.close_quietly(self.local)
        transport.close_quietly(self.pipe)
        if self.runner_notice is not None:  # the parent's pending runner is the parent's
            transport.close_quietly(self.runner_notice[1])
        for one in (self.spare, self.handed):  # their pipes are the parent's
            if one is not None:
                one.retire()
        self.spare = self.handed = None

    def reap(self) -> None:
        """Collect exited children (only ours: the plan may have its own subprocesses), and
        spares that exited: those are no child of the tree's, only marked gone."""
        for pid in list(self.children):
            if processes.reaped(pid):
                self.children.discard(pid)
        for ending in list(self.spares_ending):
            if ending.reap():
                self.spares_ending.discard(ending)
        if self.spare is not None:
            self.spare.reap()

    def _on_sigchld(self, _signum: int, _frame: FrameType | None) -> None:
        self.reap()

    # ---- the end ----------------------------------------------------------------------

    def close(self, code: int) -> int:
        """Report what is left, close the channel (the machine first), return `code`."""
        self.say_connected()
        self.end_spares()
        self.tracker.stop(2 * REPORT_TIMEOUT)
        if self.local is not None:
            self.tracker.flush(FLUSH_TIMEOUT)
        if self.handshake.phase in ("connected", "crashed"):
            with contextlib.suppress(ProtocolError):
                self.feed(ChannelClosed())
                if self.dialect.files_on_pipe:
                    self.feed(PipeClosed())
        transport.close_quietly(self.local)
        transport.close_quietly(self.pipe)
        self.local = self.pipe = None
        if self.runner_notice is not None:  # a runner still before its socket: nobody waits
            self._stop_runner(self.runner_notice[0])
            transport.close_quietly(self.runner_notice[1])
            self.runner_notice = None
        failure = self.tracker.failure
        if failure is not None and not isinstance(failure, OSError):
            log(f"stopped reporting loaded files: {failure}")
        if self.tracker.pending and failure is None:
            log(f"{self.tracker.pending} loaded files could not be reported in time")
        return code


def _line_chunks(paths: Sequence[bytes], limit: int) -> Iterator[list[bytes]]:
    """Paths grouped so each group's lines fit in `limit` bytes (one atomic pipe write)."""
    chunk: list[bytes] = []
    size = 0
    for path in paths:
        if chunk and size + len(path) + 1 > limit:
            yield chunk
            chunk, size = [], 0
        chunk.append(path)
        size += len(path) + 1
    if chunk:
        yield chunk


def _run_child(child: Slave, first: Callable[[], None] | None = None) -> NoReturn:
    """In a child (forked at S, or a spare given its S): `first()`, then run it; never
    return into the parent's serve loop."""
    try:
        if first is not None:
            first()
        code = run_slave(child)
    except BaseException:
        traceback.print_exc()
        code = EXIT_FAILED
    _exit(code)


def run_slave(slave: Slave) -> int:
    """Run one slave; a broken rule or a dead channel is one line on stderr and exit 1."""
    try:
        return slave.run()
    except (ProtocolError, OSError) as error:
        log(f"{type(error).__name__}: {error}")
        return slave.close(EXIT_FAILED)


def _exit(code: int) -> NoReturn:
    """Leave now: flush stdio, skip atexit handlers and whatever fork copied."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


USAGE = "usage: python -m zeus_fsm.slave [-h] [--plan MODULE:CLASS] [--dialect DIALECT]"


def _help() -> str:
    return f"""{USAGE}

The Python reference slave of the Zeus handshake. The master starts it with
{processes.MASTER_FD_ENV} naming the inherited master socket.

options:
  -h, --help            show this help message and exit
  --plan MODULE:CLASS   the plan: one method per identifier (default {DEFAULT_PLAN})
  --dialect DIALECT     spec or zeus (default: ${DIALECT_ENV}, else spec)
"""


@attrs.frozen
class Args:
    plan: str
    dialect: str


class UsageError(Exception):
    """A command line the slave cannot run: exit 2 with the usage (as argparse would)."""


def parse_args(argv: Sequence[str] | None) -> Args:
    """The two options, by hand: argparse (with gettext and re) was ~5 ms of the
    slave's start-up, paid again by every slave a checker or `zeus start` launches.
    `--opt value` and `--opt=value`; UsageError for anything else. Exits 0 for --help."""
    args = list(sys.argv[1:] if argv is None else argv)
    values = {"--plan": DEFAULT_PLAN, "--dialect": os.environ.get(DIALECT_ENV, "spec")}
    while args:
        arg = args.pop(0)
        if arg in ("-h", "--help"):
            sys.stdout.write(_help())
            _exit(EXIT_OK)
        name, eq, value = arg.partition("=")
        if name not in values:
            raise UsageError(f"unrecognized arguments: {arg}")
        if not eq:
            if not args:
                raise UsageError(f"argument {name}: expected one argument")
            value = args.pop(0)
        values[name] = value
    parsed = Args(values["--plan"], values["--dialect"])
    if parsed.dialect not in DIALECT_NAMES:
        raise UsageError(f"unknown dialect {parsed.dialect!r}; "
                         f"choose from {', '.join(DIALECT_NAMES)}")
    module_name, colon, class_name = parsed.plan.partition(":")
    if not (module_name and colon and class_name):
        raise UsageError(f"--plan {parsed.plan!r} is not MODULE:CLASS")
    return parsed


def main(argv: Sequence[str] | None = None) -> NoReturn:
    try:
        args = parse_args(argv)
    except UsageError as error:
        sys.stderr.write(f"{USAGE}\npython -m zeus_fsm.slave: error: {error}\n")
        _exit(EXIT_USAGE)
    dialect = get_dialect(args.dialect)
    try:
        master = master_socket_from_env(os.environ)
    except BadEnvironment as error:
        sys.stderr.write(f"zeus_fsm.slave: {error}\n")
        _exit(EXIT_BAD_ENV)
    spares = processes.spares_enabled(os.environ)
    if spares:  # before any tracker's baseline, as a module-level import would be
        import zeus_fsm.slave.spare  # noqa: F401
    world = World(dialect, master, args.plan, watch_master(master), spares=spares)
    _exit(run_slave(Slave(world, dialect.root_identifier,
                          0 if dialect.has_parent_pid else None)))

