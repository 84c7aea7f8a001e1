"""A tiny test-only master for the reference slave, built from transport + machine.

It starts `python -m zeus_fsm.slave` with a real master socket, and drives one
machine.Handshake per registered slave with what it receives, exactly as a
master would: a slave that breaks a rule makes the harness raise. It is not
zeus_fsm.master.loop (that is the product); it is the smallest thing that can judge
the slave in its tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from zeus_fsm.protocol import command_wire
from zeus_fsm.protocol.command import Command, CommandExpectation
from zeus_fsm.protocol.dialects import Dialect, get_dialect
from zeus_fsm.protocol.errors import Role
from zeus_fsm.protocol.events import (
    ChannelClosed,
    ClientFdsPassed,
    Deadline,
    PipeClosed,
    PipePassed,
    RunnerPassed,
    SocketPassed,
)
from zeus_fsm.protocol.machine import Expectation, Handshake
from zeus_fsm.protocol.messages import (
    ActionResult,
    CommandPid,
    LoadedFiles,
    Message,
    PidIdentifier,
    RunnerHeader,
    SpawnCommand,
    SpawnSlave,
)
from zeus_fsm.transport import fds as transport
from zeus_fsm.transport import processes

#: Every wait in these tests is bounded by this (seconds).
TIMEOUT = 10.0


@attrs.define
class CommandRun:
    """What one command gave back, as the master and the client saw it."""

    machine: Command
    runner_pid: int
    pid: int
    status: int
    stdout: bytes
    stderr: bytes


@attrs.define
class Launched:
    """A command asked for and answered (its runner socket); the rest is `finish()`'s."""

    machine: Command
    runner: socket.socket
    runner_pid: int
    stdout: socket.socket  # the client's ends
    stderr: socket.socket


class Peer:
    """One registered slave: its socket, pipe (zeus), handshake and what it sent."""

    def __init__(self, dialect: Dialect, sock_fd: int, handshake: Handshake,
                 processes: list[int] | None = None) -> None:
        self.dialect = dialect
        #: pidfds of the runners and commands seen, for the harness to end them.
        self.processes: list[int] = [] if processes is None else processes
        self.sock = transport.adopt_socket(sock_fd)
        self.peer_pid = transport.peer_credentials(self.sock).pid
        self.handshake = handshake
        self.decoder = dialect.channel_decoder(Role.SLAVE)
        self.pipe_decoder = dialect.pipe_decoder() if dialect.files_on_pipe else None
        self.pipe: int | None = None
        self.pidfd: int | None = None
        self.gone = False  # the process had exited before its pidfd could be opened
        self.pid_message: PidIdentifier | None = None
        self.result: ActionResult | None = None
        self.files: list[bytes] = []
        #: How many files had arrived when R arrived (to tell lazy files apart).
        self.files_at_result: int | None = None
        self.closed = False

    # ---- what the slave sent ----------------------------------------------------

    @property
    def pid(self) -> int:
        assert self.pid_message is not None, "no P yet"
        return self.pid_message.pid

    @property
    def files_done(self) -> bool:
        return not self.handshake.files_open

    def pump(self, timeout: float) -> None:
        """Wait up to `timeout` for the slave, then take in whatever it sent."""
        watched = [fd for fd in (None if self.closed else self.sock.fileno(), self.pipe,
                                 self.pidfd if not self.dialect.files_on_pipe else None)
                   if fd is not None]
        if not watched:
            return
        ready = transport.wait_readable(watched, timeout)
        if not self.closed and self.sock.fileno() in ready:
            self._read_socket()
        if self.pipe is not None and self.pipe in ready:
            self._read_pipe()
        exited = self.gone or (self.pidfd is not None and self.pidfd in ready)
        if exited and not self.closed and not self.dialect.files_on_pipe:
            # spec: a datagram socket has no EOF; the process's exit closes the channel.
            while transport.wait_readable([self.sock.fileno()], 0):
                self._read_socket()
            self._handle(ChannelClosed())
            self.closed = True

    def wait_until(self, done: Callable[[], bool], what: str,
                   timeout: float = TIMEOUT) -> None:
        clock = transport.Clock(timeout)
        while not done():
            if clock.expired:
                raise AssertionError(f"slave {self.pid_message}: no {what} within {timeout} s "
                                     f"(state {self.handshake.describe_state()})")
            self.pump(min(0.05, clock.remaining()))

    def wait_result(self) -> ActionResult:
        self.wait_until(lambda: self.result is not None, "R")
        assert self.result is not None
        return self.result

    def wait_files(self, paths: frozenset[bytes] | set[bytes]) -> None:
        self.wait_until(lambda: paths <= set(self.files),
                        f"loaded files {sorted(paths - set(self.files))}")

    def wait_closed(self) -> None:
        self.wait_until(lambda: self.closed and self.files_done, "channel close")

    def send(self, data: bytes) -> None:
        """Raw bytes to the slave (S and C messages, or several in one write)."""
        transport.send_polled(self.sock, data, TIMEOUT)

    def send_message(self, message: Message) -> None:
        self.send(self.dialect.encode(message))

    def close(self) -> None:
        for fd in (self.pipe, self.pidfd):
            transport.close_quietly(fd)
        self.pipe = self.pidfd = None
        transport.close_quietly(self.sock)

    # ---- commands (zeus): the master's and the client's side ----------------------------

    def launch(self, name: str, args: Sequence[bytes], *, client_pid: int | None = None,
               stdin: bytes | None = b"", argc: int | None = None,
               timeout: float = TIMEOUT) -> Launched:
        """C:<name>, the runner socket, the header and the client's fds (CMD-1 to CMD-4).

        The client's fds are socketpairs whose other ends the harness keeps; `stdin`
        is written to the stdout socket and its write side shut down, like the real
        client at the end of its stdin (None: left open). `argc` may lie.
        """
        machine = Command(CommandExpectation(slave_pid=self.pid))
        request = SpawnCommand(name)
        self.handshake.handle(request)  # the master feeds what it sends
        machine.handle(request)
        self.send_message(request)
        passed, runner = self._receive_runner(timeout)
        try:
            machine.handle(passed)
        except BaseException:
            runner.close()
            raise
        assert passed.peer_pid is not None
        self._watch(passed.peer_pid)
        header = RunnerHeader(client_pid or os.getpid(), len(args) if argc is None else argc)
        machine.handle(header)
        transport.send_polled(runner, command_wire.encode(header), timeout)
        args_ours, args_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        out_ours, out_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        err_ours, err_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            args_ours.sendall(command_wire.encode_arguments(args))
            args_ours.close()  # the end of file the runner reads up to
            theirs = (args_theirs, out_theirs, err_theirs)
            machine.handle(ClientFdsPassed(tuple(transport.fd_kind(s.fileno())
                                                 for s in theirs)))
            for sock in theirs:
                transport.send_fds_polled(runner, b"\0", [sock.fileno()], timeout)
        finally:
            for sock in (args_ours, args_theirs, out_theirs, err_theirs):
                sock.close()
        if stdin is not None:
            # The command may be done already and its ends closed: it did not want stdin.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                if stdin:
                    transport.send_polled(out_ours, stdin, timeout)  # bounded, like every wait
                out_ours.shutdown(socket.SHUT_WR)
        return Launched(machine, runner, passed.peer_pid, out_ours, err_ours)

    def finish(self, launched: Launched, timeout: float = TIMEOUT) -> CommandRun:
        """The command's P, its output to end of file and its exit status (CMD-5, CMD-7)."""
        machine, runner = launched.machine, launched.runner
        decoder = command_wire.RunnerDecoder()
        runner_gone = processes.process_handle(launched.runner_pid)
        if runner_gone is None:  # it ended (and was reaped) already: what it sent is queued
            while transport.wait_readable([runner.fileno()], 0):
                self._read_runner(runner, decoder, machine)
            if machine.state != "exited":
                machine.handle(ChannelClosed())  # CMD-8: it ended without a status
        out_fd, err_fd = launched.stdout.fileno(), launched.stderr.fileno()
        outputs = {out_fd: bytearray(), err_fd: bytearray()}
        open_outputs = set(outputs)
        clock = transport.Clock(timeout)
        try:
            while machine.state != "exited" or open_outputs:
                watched = [runner.fileno(), *open_outputs]
                if runner_gone is not None and machine.state != "exited":
                    watched.append(runner_gone)
                ready = transport.wait_readable(watched, clock.remaining())
                if not ready:
                    if machine.state == "exited":
                        raise AssertionError(f"the command's output did not end within "
                                             f"{timeout} s")
                    machine.handle(Deadline(timeout))
                _read_outputs(set(ready) & open_outputs, outputs, open_outputs)
                if runner.fileno() in ready:
                    self._read_runner(runner, decoder, machine)
                elif runner_gone is not None and runner_gone in ready:
                    machine.handle(ChannelClosed())  # CMD-8: it ended without a status
        finally:
            transport.close_quietly(runner_gone)
            for sock in (runner, launched.stdout, launched.stderr):
                sock.close()
        assert machine.pid is not None and machine.status is not None
        return CommandRun(machine, launched.runner_pid, machine.pid, machine.status,
                          bytes(outputs[out_fd]), bytes(outputs[err_fd]))

    def _read_runner(self, runner: socket.socket, decoder: command_wire.RunnerDecoder,
                     machine: Command) -> None:
        received = transport.receive(runner, 0)
        if received is None:
            return
        received.close()
        for message in decoder.feed(received.data):
            machine.handle(message)
            if isinstance(message, CommandPid):
                self._watch(message.pid)

    def run_command(self, name: str, args: Sequence[bytes] = (), *,
                    stdin: bytes | None = b"", client_pid: int | None = None,
                    timeout: float = TIMEOUT) -> CommandRun:
        """One whole command, as a master and its client see it."""
        return self.finish(self.launch(name, args, client_pid=client_pid, stdin=stdin,
                                       timeout=timeout), timeout)

    def _receive_runner(self, timeout: float) -> tuple[RunnerPassed, socket.socket]:
        """The one fd the slave's stream carries after C (nothing else may come first)."""
        received = transport.receive(self.sock, timeout)
        if received is None:
            self.handshake.handle(Deadline(timeout))
        assert received is not None
        try:
            if received.eof:
                self.handshake.handle(ChannelClosed())
            creds = None
            if received.fds:
                probe = socket.socket(fileno=os.dup(received.fds[0]))
                with contextlib.closing(probe):
                    creds = transport.peer_credentials(probe)
            passed = RunnerPassed(received.kinds, payload=received.data,
                                  peer_pid=creds.pid if creds else None,
                                  peer_uid=creds.uid if creds else None)
            self.handshake.handle(passed)  # the guards judge it before we keep it
            runner = transport.adopt_socket(received.keep(0))
        finally:
            received.close()
        return passed, runner

    def _watch(self, pid: int) -> None:
        handle = processes.process_handle(pid)
        if handle is not None:
            self.processes.append(handle)

    # ---- reading ----------------------------------------------------------------

    def _handle(self, event: object) -> None:
        self.handshake.handle(event)  # type: ignore[arg-type]

    def _read_socket(self) -> None:
        received = transport.receive(self.sock, 0)
        if received is None:
            return
        try:
            if received.eof:
                self._handle(ChannelClosed())
                self.closed = True
                return
            for message in self.decoder.feed(received.data) if received.data else []:
                self._handle(message)
                self._record(message)
            if received.fds:  # zeus: the pipe, after the bytes it came with
                self._handle(PipePassed(received.kinds))
                self.pipe = received.keep(0)
                transport.set_nonblocking(self.pipe)
        finally:
            received.close()

    def _read_pipe(self) -> None:
        assert self.pipe is not None and self.pipe_decoder is not None
        data = transport.read_pipe(self.pipe)
        if data is None:
            return
        if not data:
            self.pipe_decoder.close()
            self._handle(PipeClosed())
            transport.close_quietly(self.pipe)
            self.pipe = None
            return
        batch = self.pipe_decoder.feed(data)
        if batch is not None:
            self._handle(batch)
            self.files.extend(batch.paths)

    def _record(self, message: Message) -> None:
        if isinstance(message, PidIdentifier):
            self.pid_message = message
            self.pidfd = processes.process_handle(message.pid)
            # Already exited (and reaped by its parent) before we looked: its channel is over.
            self.gone = self.pidfd is None
        elif isinstance(message, ActionResult):
            self.result = message
            self.files_at_result = len(self.files)
        elif isinstance(message, LoadedFiles):
            self.files.extend(message.paths)


class Harness:
    """Starts the reference slave with a real master socket and registers its slaves."""

    def __init__(self, dialect_name: str, plan: str | None = None,
                 env: dict[str, str] | None = None, dialect_flag: bool = True) -> None:
        self.dialect = get_dialect(dialect_name)
        self.master, theirs = transport.master_socketpair()
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - the slaves' log, closed in close()
        command = [sys.executable, "-m", "zeus_fsm.slave"]
        if dialect_flag:
            command += ["--dialect", dialect_name]
        if plan is not None:
            command += ["--plan", plan]
        self.process = subprocess.Popen(
            command, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL,
            stderr=self.stderr, start_new_session=True,  # one process group to kill at the end
            env={**os.environ, **(env or {}), processes.MASTER_FD_ENV: str(theirs.fileno())})
        theirs.close()
        self.peers: list[Peer] = []
        #: pidfds of runners and commands (zeus), newest last: ended first in close().
        self.processes: list[int] = []

    def accept(self, expect: Expectation) -> Peer:
        """One registration on the master socket, up to R (or its channel's end)."""
        received = transport.receive(self.master, TIMEOUT)
        assert received is not None, f"no slave socket on the master socket within {TIMEOUT} s"
        handshake = Handshake(self.dialect, expect)
        try:
            kinds = received.kinds
            sock_fd = received.keep(0) if received.fds else None
        finally:
            received.close()
        if sock_fd is None:
            handshake.handle(SocketPassed(kinds=kinds, payload=received.data))
        assert sock_fd is not None
        peer = Peer(self.dialect, sock_fd, handshake, self.processes)
        self.peers.append(peer)
        creds = transport.peer_credentials(peer.sock)
        handshake.handle(SocketPassed(kinds=kinds, payload=received.data,
                                      peer_pid=creds.pid, peer_uid=creds.uid))
        peer.wait_until(lambda: peer.result is not None or peer.closed, "R")
        return peer

    def start(self) -> Peer:
        """The root slave, registered, its R received."""
        return self.accept(Expectation(
            identifier=self.dialect.root_identifier,
            parent_pid=0 if self.dialect.has_parent_pid else None,
            pid=self.process.pid, uid=os.getuid()))

    def child_expectation(self, parent: Peer, identifier: str | None) -> Expectation:
        return Expectation(identifier=identifier,
                           parent_pid=parent.pid if self.dialect.has_parent_pid else None,
                           uid=os.getuid())

    def spawn(self, parent: Peer, identifier: str) -> Peer:
        parent.send_message(SpawnSlave(identifier))
        return self.accept(self.child_expectation(parent, identifier))

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode("utf-8", "replace")

    def close(self) -> list[int]:
        """Stop every slave, close every channel; return the pids still alive.

        Children go first, newest first (a child registers after its parent), each
        killed while its parent lives: the parent must reap it, or it stays a zombie
        and is reported. The root is ours to reap; its process group goes last.
        """
        unreaped: list[int] = []
        # Commands, then runners (newest first: a command before its runner), each while
        # its parent lives to reap it. They are in sessions of their own: no group kill
        # reaches them.
        for handle in reversed(self.processes):
            pid = _pid_of(handle)
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(handle, signal.SIGKILL)
            if pid is not None:
                unreaped += wait_gone([pid])
            os.close(handle)
        self.processes.clear()
        for peer in reversed(self.peers):
            if peer.pidfd is not None and peer.pid != self.process.pid:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(peer.pidfd, signal.SIGKILL)
                unreaped += wait_gone([peer.pid])
        for peer in self.peers:
            peer.close()
        self.master.close()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(TIMEOUT)
        self.stderr.close()
        pids = [p.pid_message.pid for p in self.peers if p.pid_message is not None]
        return sorted(set(unreaped + wait_gone(pids)))


def _pid_of(handle: int) -> int | None:
    """The pid behind a pidfd (from /proc/self/fdinfo), None once it is reaped."""
    with open(f"/proc/self/fdinfo/{handle}", encoding="ascii") as info:
        for line in info:
            if line.startswith("Pid:"):
                pid = int(line.split()[1])
                return pid if pid > 0 else None
    return None


def alive(pid: int) -> bool:
    """Whether a process (a zombie too) with this pid exists."""
    return Path(f"/proc/{pid}").exists()


def wait_gone(pids: list[int], timeout: float = 5.0) -> list[int]:
    """Wait until these processes are gone (reaped); return those that are not."""
    deadline = time.monotonic() + timeout
    left = [pid for pid in pids if alive(pid)]
    while left and time.monotonic() < deadline:
        time.sleep(0.01)
        left = [pid for pid in left if alive(pid)]
    return left


def _read_outputs(ready: set[int], outputs: dict[int, bytearray], still_open: set[int]) -> None:
    """Read each ready output once; an empty read is its end of file."""
    for fd in ready:
        chunk = os.read(fd, 65_536)
        outputs[fd] += chunk
        if not chunk:
            still_open.discard(fd)
