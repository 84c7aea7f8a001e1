"""`zeus-fsm start` serves `.zeus.sock`: clients ask for commands, slaves run them.

Each connection is the protocol's client machine (protocol/client.py); this module
does its I/O and asks the supervisor about slaves. No client can stall another:
every read is non-blocking and bounded in count, a request must be complete
within the step timeout, a request for a slave still booting waits for it (at most
`boot_wait` seconds), a crashed slave is answered at once with its error (pid 0,
the error on the client's stdout, status 1), an unknown command is a closed
connection, and a malformed message or a client that goes away costs nothing but
its own connection (and, if it ran one, its command). Only the user who runs the
master may use it: any other uid is refused unread, with one line in the view.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Protocol

import attrs

from zeus_fsm.master.commands import CommandRun
from zeus_fsm.master.session import SlaveSession
from zeus_fsm.protocol import client_wire
from zeus_fsm.protocol.client import (
    ClientExchange,
    ClientExpectation,
    ClientFdPassed,
    ClientVanished,
)
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.protocol.escapes import show_bytes
from zeus_fsm.protocol.events import Deadline
from zeus_fsm.protocol.messages import CommandStarted, ExitStatus
from zeus_fsm.transport.fds import Clock, close_quietly, receive, send_bounded, write_bounded
from zeus_fsm.transport.unix_socket import Listener, accept_own

#: Connections accepted per wake: a flood of connections cannot starve the slaves.
_ACCEPTS_PER_WAKE = 32
#: How long one reply (a pid, a status, an error text) may take to be taken by a client.
_REPLY_SECONDS = 2.0


@attrs.frozen
class Slave:
    """What the supervisor says of the slave a command needs."""

    state: str  # "connected", "waiting" (booting or not yet booted) or "crashed"
    session: SlaveSession | None = None
    error: str | None = None


class Slaves(Protocol):
    """The supervisor's side: which slave runs a command, and how it is."""

    def find_command(self, name: str) -> tuple[str, str] | None: ...
    def slave(self, identifier: str) -> Slave: ...
    def start_command(self, session: SlaveSession, name: str, client_pid: int,
                      fds: tuple[int, int, int], argc: int) -> CommandRun: ...
    def end_command(self, run: CommandRun) -> None: ...


@attrs.define(eq=False)
class Connection:
    """One client: its socket, its machine, the fds it sent, and its command."""

    sock: socket.socket
    peer_pid: int
    exchange: ClientExchange
    deadline: Clock | None
    decoder: client_wire.RequestDecoder = attrs.Factory(client_wire.RequestDecoder)
    fds: list[int] = attrs.Factory(list)
    #: Our copies of its stdout and stderr, to tell it of a failure (closed at the end).
    out: int | None = None
    err: int | None = None
    node: str | None = None
    command: str | None = None
    run: CommandRun | None = None
    pid_sent: bool = False


class ClientServer:
    """The master socket's clients. `handlers()` go into the master's poll loop; `tick()`
    runs after every round of it (it answers what became answerable)."""

    def __init__(self, listener: Listener, slaves: Slaves,
                 note: Callable[..., None], *, step_timeout: float, boot_wait: float) -> None:
        self.listener = listener
        self.slaves = slaves
        self.note = note
        self.step_timeout = step_timeout
        self.boot_wait = boot_wait
        self.connections: list[Connection] = []
        self._uid = os.getuid()

    def handlers(self) -> dict[int, Callable[[], None]]:
        out: dict[int, Callable[[], None]] = {self.listener.fileno(): self._accept}
        for conn in self.connections:
            out[conn.sock.fileno()] = partial(self._isolated, self._read, conn)
        return out

    def tick(self) -> None:
        for conn in list(self.connections):
            self._isolated(self._advance, conn)

    def _isolated(self, step: Callable[[Connection], None], conn: Connection) -> None:
        """One connection's fault, even a bug of ours, ends that connection, never the
        master: the tree and every other client go on; the view says what happened."""
        try:
            step(conn)
        except Exception as error:
            self.note("client", state="failed", client=conn.peer_pid,
                      reason=f"{type(error).__name__}: {error}")
            if conn.run is not None and not conn.run.finished:
                self.slaves.end_command(conn.run)
            self._close(conn)

    def close(self) -> None:
        for conn in list(self.connections):
            if conn.run is not None and not conn.run.finished:
                self.slaves.end_command(conn.run)
            self._close(conn)
        self.listener.close()

    # ---- reading ------------------------------------------------------------------

    def _accept(self) -> None:
        for _ in range(_ACCEPTS_PER_WAKE):
            accepted = accept_own(self.listener)
            if accepted is None:
                return
            sock, creds = accepted
            if creds.uid != self._uid:  # CLIENT-9: not ours to serve; unread
                self.note("client", state="refused", client=creds.pid, uid=creds.uid,
                          reason="another user's connection (CLIENT-9)")
                sock.close()
                continue
            sock.setblocking(False)
            self.connections.append(Connection(
                sock, creds.pid, ClientExchange(ClientExpectation(peer_pid=creds.pid)),
                Clock(self.step_timeout)))

    def _read(self, conn: Connection) -> None:
        try:
            received = receive(conn.sock, 0.0)
        except OSError:
            received = None
            self._vanished(conn)
            return
        if received is None:
            return
        try:
            kinds = received.kinds
            conn.fds.extend(received.fds)  # ours now: closed with the connection
            received.fds.clear()
            if received.eof:
                self._vanished(conn)
                return
            for request in conn.decoder.feed(received.data):
                conn.exchange.handle(request)
            for kind in kinds:
                conn.exchange.handle(ClientFdPassed((kind,)))
        except ProtocolError as error:
            self._refuse(conn, error)
            return
        finally:
            received.close()
        self._advance(conn)

    def _vanished(self, conn: Connection) -> None:
        """The client's end closed: mid-command, its command is ended (CLIENT-7)."""
        if conn.run is not None and not conn.run.finished:
            self.slaves.end_command(conn.run)
            self.note("command", state="client gone", command=conn.command, node=conn.node,
                      client=conn.peer_pid, pid=conn.run.pid)
        with suppress(ProtocolError):  # before its request was complete: nothing started
            conn.exchange.handle(ClientVanished())
        self._close(conn)

    def _refuse(self, conn: Connection, error: ProtocolError) -> None:
        self.note("client", state="refused", client=conn.peer_pid,
                  reason=f"{error.culprit.value} broke {error.requirement}: {error.reason}"
                         + (f": {show_bytes(error.data)}" if error.data else ""))
        self._close(conn)

    # ---- answering ----------------------------------------------------------------

    def _advance(self, conn: Connection) -> None:
        state = conn.exchange.state
        if state in ("request", "arguments", "stdout", "stderr"):
            if conn.deadline is not None and conn.deadline.expired:
                self._refuse_late(conn)
        elif state == "starting" and conn.run is None:
            self._start(conn)
        elif state == "starting" or (state in ("running", "crashed") and conn.run is not None):
            self._relay(conn)

    def _refuse_late(self, conn: Connection) -> None:
        seconds = conn.deadline.seconds if conn.deadline is not None else 0.0
        try:
            conn.exchange.handle(Deadline(seconds))
        except ProtocolError as error:
            self._refuse(conn, error)

    def _start(self, conn: Connection) -> None:
        request = conn.exchange.request
        assert request is not None
        if conn.node is None:
            found = self.slaves.find_command(request.command)
            if found is None:  # CLIENT-8: as the real master, close without a pid
                self.note("command", state="unknown", command=request.command,
                          client=request.client_pid)
                self._close(conn)
                return
            conn.node, conn.command = found
            conn.deadline = Clock(self.boot_wait)
        slave = self.slaves.slave(conn.node)
        if slave.state == "crashed":
            self._crashed(conn, slave.error or f"the slave {conn.node!r} has crashed")
        elif slave.state == "waiting":
            if conn.deadline is not None and conn.deadline.expired:
                self._crashed(conn, f"zeus-fsm: the slave {conn.node!r} did not boot within "
                                    f"{self.boot_wait:g} s\n")
        else:
            assert slave.session is not None and conn.command is not None
            self._run(conn, slave.session, conn.command, request.argc, request.client_pid)

    def _run(self, conn: Connection, session: SlaveSession, command: str, argc: int,
             client_pid: int) -> None:
        args, out, err = conn.fds
        conn.out, conn.err = os.dup(out), os.dup(err)
        conn.fds = []
        conn.deadline = None
        try:
            conn.run = self.slaves.start_command(session, command, client_pid,
                                                 (args, out, err), argc)
        except ProtocolError as error:  # the master's own refusal: spec has no C wire
            self._crashed(conn, f"zeus-fsm: {command!r} cannot run: {error.reason} "
                                "(commands need `zeus-fsm start --dialect zeus`)\n")
            return
        self.note("command", state="started", command=command, node=conn.node,
                  client=client_pid, args=argc)
        self._relay(conn)

    def _relay(self, conn: Connection) -> None:
        run = conn.run
        assert run is not None
        if run.pid is not None and not conn.pid_sent:
            if not self._send(conn, CommandStarted(run.pid)):
                return
            conn.exchange.handle(CommandStarted(run.pid))
            conn.pid_sent = True
            self.note("command", state="running", command=conn.command, node=conn.node,
                      pid=run.pid)
        if run.error is not None:
            text = f"zeus-fsm: {run.describe()} failed: {run.error}\n"
            if conn.pid_sent:
                self._tell(conn.err, text)
                self._finish(conn, 1)
            else:
                self._crashed(conn, text)
            self.note("command", state="failed", command=conn.command, node=conn.node,
                      error=str(run.error))
        elif run.status is not None:
            self.note("command", state="exited", command=conn.command, node=conn.node,
                      pid=run.pid, status=run.status)
            self._finish(conn, run.status)

    def _crashed(self, conn: Connection, text: str) -> None:
        """CLIENT-6: pid 0, the error text on the client's stdout, status 1, at once."""
        if not self._send(conn, CommandStarted(0)):
            return
        conn.exchange.handle(CommandStarted(0))
        out = conn.out if conn.out is not None else (conn.fds[1] if len(conn.fds) > 1 else None)
        self._tell(out, text)
        self.note("command", state="crashed", command=conn.command, node=conn.node)
        self._finish(conn, 1)

    def _finish(self, conn: Connection, status: int) -> None:
        # Our copies of its output go first, so that the client's reading ends with the
        # command's own end of file once the status is there.
        close_quietly(conn.out)
        close_quietly(conn.err)
        conn.out = conn.err = None
        if self._send(conn, ExitStatus(status)):
            conn.exchange.handle(ExitStatus(status))
        self._close(conn)

    def _send(self, conn: Connection, message: CommandStarted | ExitStatus) -> bool:
        try:
            send_bounded(conn.sock, client_wire.encode(message), _REPLY_SECONDS)
        except OSError:
            self._vanished(conn)
            return False
        return True

    @staticmethod
    def _tell(fd: int | None, text: str) -> None:
        if fd is None:
            return
        with suppress(OSError):  # the client is gone: nobody to tell
            write_bounded(fd, text.encode("utf-8", "surrogateescape"), _REPLY_SECONDS)

    def _close(self, conn: Connection) -> None:
        for fd in (*conn.fds, conn.out, conn.err):
            close_quietly(fd)
        conn.fds, conn.out, conn.err = [], None, None
        close_quietly(conn.sock)
        if conn in self.connections:
            self.connections.remove(conn)

