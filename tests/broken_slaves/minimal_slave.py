#!/usr/bin/env python3
"""A minimal, independent slave for both dialects: the good baseline the broken slaves bend.

It imports nothing from zeus_fsm, as a slave written in another language would
not, so the checker is never judged by its own code. Dialect: the
ZEUS_FSM_DIALECT variable (`zeus-fsm check` sets it) or `--dialect spec|zeus`.

Its plan: boot, child_ok, child_fail, child_lazy, and (zeus) the command zcheck,
as spec/CONFORMANCE.md asks. Every broken slave next to it subclasses Slave and
overrides ONE method to break ONE rule; each method below is one step of the
handshake or of a command.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
#: Real files the plan "loads" (absolute and expanded, as FILES-2 wants).
PLAN_FILES = {
    "boot": [os.path.join(HERE, "minimal_slave.py"), os.path.realpath(os.__file__)],
    "child_ok": [os.path.realpath(socket.__file__)],
    "child_fail": [os.path.realpath(stat.__file__)],
    "child_lazy": [],
}
LAZY_FILE = os.path.join(HERE, "README.md")
LAZY_DELAY = 0.05
#: How often a runner looks for its client (CMD-9: at least once a second).
CLIENT_CHECK = 0.05
#: A runner's bound on each wait for the master.
RUNNER_WAIT = 30.0
FAIL_TEXT = ('Traceback (most recent call last):\n'
             f'  File "{HERE}/plan.py", line 12, in child_fail\n'
             'RuntimeError: child_fail fails on purpose\n')


class Slave:
    def __init__(self) -> None:
        self.dialect = os.environ.get("ZEUS_FSM_DIALECT", "spec")
        if "--dialect" in sys.argv:
            self.dialect = sys.argv[sys.argv.index("--dialect") + 1]
        self.zeus = self.dialect == "zeus"
        self.master: socket.socket | None = None
        self.local: socket.socket | None = None
        self.files_w: int | None = None
        self.lazy_due: float | None = None
        self.buffer = b""

    # ---- start-up ----------------------------------------------------------

    def main(self) -> None:
        self.master = self.open_master()
        self.boot(self.root_identifier(), 0)

    def die(self, message: str) -> None:
        sys.stderr.write(f"minimal_slave: {message}\n")
        sys.exit(2)

    def open_master(self) -> socket.socket:
        raw = os.environ.get("ZEUS_MASTER_FD")
        if raw is None:
            self.die("ZEUS_MASTER_FD is not set")
        assert raw is not None
        if not raw.isdigit():
            self.die(f"ZEUS_MASTER_FD={raw!r} is not a number")
        try:
            mode = os.fstat(int(raw)).st_mode
        except OSError:
            self.die(f"ZEUS_MASTER_FD={raw} is not an open fd")
        if not stat.S_ISSOCK(mode):
            self.die(f"ZEUS_MASTER_FD={raw} is not a socket")
        return socket.socket(fileno=int(raw))

    def root_identifier(self) -> str:
        return "boot" if self.zeus else ""

    # ---- the handshake, one step per method --------------------------------

    def boot(self, identifier: str, parent_pid: int) -> None:
        self.local = self.send_socket()
        self.register(identifier, parent_pid)
        files, error = self.run_action(identifier or "boot")
        self.report(files)
        self.send_result(error)
        if error is not None:
            self.after_failure()
        self.serve()

    def socket_type(self) -> int:
        return socket.SOCK_STREAM if self.zeus else socket.SOCK_DGRAM

    def send_socket(self) -> socket.socket:
        local, remote = socket.socketpair(socket.AF_UNIX, self.socket_type())
        assert self.master is not None
        socket.send_fds(self.master, [b"\0"], [remote.fileno()])
        remote.close()
        return local

    def register(self, identifier: str, parent_pid: int) -> None:
        self.send(self.pid_message(identifier, parent_pid))
        if self.zeus:
            self.send_pipe()

    def pid_message(self, identifier: str, parent_pid: int) -> bytes:
        if self.zeus:
            return f"P:{os.getpid()}:{parent_pid}:{identifier}".encode()
        return f"P:{os.getpid()}:{identifier}".encode()

    def send_pipe(self) -> None:
        read_end, self.files_w = os.pipe()
        assert self.local is not None
        socket.send_fds(self.local, [b"\0"], [read_end])
        os.close(read_end)

    def run_action(self, identifier: str) -> tuple[list[str], str | None]:
        if identifier in ("boot", "child_ok"):
            return PLAN_FILES[identifier], None
        if identifier == "child_fail":
            return PLAN_FILES[identifier], FAIL_TEXT
        if identifier == "child_lazy":
            self.lazy_due = time.monotonic() + LAZY_DELAY
            return [], None
        return [], f"KeyError: no action named {identifier!r} in this plan\n"

    def report(self, paths: list[str]) -> None:
        if not paths:
            return
        if self.zeus:
            assert self.files_w is not None
            os.write(self.files_w, b"".join(p.encode() + b"\n" for p in paths))
        else:
            for path in paths:
                self.send(b"F:" + path.encode())

    def send_result(self, error: str | None) -> None:
        self.send(b"R:OK" if error is None else b"R:" + error.encode())

    def after_failure(self) -> None:
        """A failed action: everything is reported already; close the channel by exiting."""
        os._exit(1)

    def send(self, message: bytes) -> None:
        assert self.local is not None
        if self.zeus:
            self.local.sendall(message + b"\0")
        else:
            self.local.send(message)

    # ---- serving S ------------------------------------------------------------

    def serve(self) -> None:
        assert self.local is not None
        while True:
            self.reap()
            wait = 0.5 if self.lazy_due is None else max(0.0, self.lazy_due - time.monotonic())
            readable, _, _ = select.select([self.local], [], [], wait)
            if self.lazy_due is not None and time.monotonic() >= self.lazy_due:
                self.lazy_due = None
                self.report_lazy()
            if not readable:
                continue
            data = self.local.recv(65536)
            if not data and self.zeus:
                os._exit(0)  # the master closed our channel
            for message in self.split(data):
                self.handle(message)

    def report_lazy(self) -> None:
        self.report([LAZY_FILE])

    def split(self, data: bytes) -> list[bytes]:
        if not self.zeus:
            return [data]
        frames = (self.buffer + data).split(b"\0")
        self.buffer = frames.pop()
        return [f for f in frames if f]

    def handle(self, message: bytes) -> None:
        if message.startswith(b"S:"):
            self.spawn(message[2:].decode())
        elif message.startswith(b"C:") and self.zeus:
            self.command(message[2:].decode())
        elif message.startswith(b"C:"):
            sys.stderr.write(f"minimal_slave: refusing {message!r}: the spec dialect has no "
                             "wire for commands\n")
        else:
            sys.stderr.write(f"minimal_slave: ignoring {message!r}\n")

    def spawn(self, identifier: str) -> None:
        parent = os.getpid()
        if os.fork() == 0:
            try:
                assert self.local is not None
                self.local.close()
                if self.files_w is not None:
                    os.close(self.files_w)
                self.files_w, self.lazy_due, self.buffer = None, None, b""
                self.boot(identifier, parent)
            finally:
                os._exit(0)

    # ---- commands (zeus): the runner and the command -------------------------

    def command(self, name: str) -> None:
        """Fork the runner and go back to serving at once."""
        self.slave_pid = os.getpid()
        if os.fork() == 0:
            try:
                self.run_runner(name)
            finally:
                os._exit(0)

    def runner_socket_type(self) -> int:
        return socket.SOCK_DGRAM

    def send_runner_socket(self, theirs: socket.socket) -> None:
        assert self.local is not None
        socket.send_fds(self.local, [b"\0"], [theirs.fileno()])

    def run_runner(self, name: str) -> None:
        os.setsid()
        mine, theirs = socket.socketpair(socket.AF_UNIX, self.runner_socket_type())
        self.send_runner_socket(theirs)
        theirs.close()
        assert self.local is not None
        self.local.close()
        if self.files_w is not None:
            os.close(self.files_w)
        mine.settimeout(RUNNER_WAIT)
        header = mine.recv(65536).rstrip(b"\0").split(b":")
        client_pid, argc = int(header[0]), int(header[1])
        args_fd, out_fd, err_fd = (socket.recv_fds(mine, 1, 1)[1][0] for _ in range(3))
        data = b""
        while chunk := os.read(args_fd, 65536):
            data += chunk
        os.close(args_fd)
        args = self.split_arguments(data)
        if len(args) != argc:
            sys.stderr.write(f"minimal_slave: argc {argc}, got {len(args)} arguments\n")
            return
        pid = os.fork()
        if pid == 0:
            try:
                self.run_command(mine, name, args, out_fd, err_fd)
            finally:
                os._exit(1)
        os.close(out_fd)
        os.close(err_fd)
        status = self.wait_command(pid, client_pid)
        mine.send(f"{status}\0".encode())

    def split_arguments(self, data: bytes) -> list[bytes]:
        return data.split(b"\0")[:-1]

    def command_pid_message(self) -> bytes:
        return f"P:{os.getpid()}:{self.slave_pid}:\0".encode()

    def command_stdio(self, out_fd: int, err_fd: int) -> None:
        os.dup2(out_fd, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)

    def run_command(self, sock: socket.socket, name: str, args: list[bytes], out_fd: int,
                    err_fd: int) -> None:
        sock.send(self.command_pid_message())
        sock.close()
        self.command_stdio(out_fd, err_fd)
        os.close(out_fd)
        os.close(err_fd)
        if name != "zcheck":
            os._exit(self.unknown_command(name))
        os._exit(zcheck(args))

    def unknown_command(self, name: str) -> int:
        os.write(2, f"minimal_slave: no command named {name!r}\n".encode())
        return 127

    def wait_command(self, pid: int, client_pid: int) -> int:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return self.exit_status(status)
            if not client_alive(client_pid):
                os.kill(pid, signal.SIGKILL)
            time.sleep(CLIENT_CHECK)

    def exit_status(self, status: int) -> int:
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        return os.WEXITSTATUS(status)

    def reap(self) -> None:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


def client_alive(pid: int) -> bool:
    """Exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            return stat_file.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:
        return False


def zcheck(args: list[bytes]) -> int:
    """spec/CONFORMANCE.md's check command, written again (no zeus_fsm here)."""
    op, rest = (args[0], args[1:]) if args else (b"", [])
    try:
        if op == b"exit":
            return int(rest[0])
        if op == b"argv":
            write_all(1, b"".join(arg + b"\0" for arg in rest))
            return 0
        if op == b"stderr":
            write_all(2, rest[0])
            return 0
        if op == b"cat":
            while chunk := os.read(0, 65536):
                write_all(1, chunk)
            return 0
        if op == b"sleep":
            time.sleep(float(rest[0]))
            return 0
        if op == b"kill":
            os.kill(os.getpid(), int(rest[0]))
            time.sleep(5)
            return 0
        if op == b"ids":
            write_all(1, f"{os.getpid()} {os.getppid()} {os.getpgrp()} {os.getsid(0)}\n"
                      .encode())
            return 0
    except (IndexError, ValueError):
        pass
    write_all(2, b"zcheck: bad call " + repr(args).encode() + b"\n")
    return 2


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


if __name__ == "__main__":
    Slave().main()
