"""A small, independent fake slave for testing the master (raw sockets, no zeus_fsm imports).

    python fake_slave.py DIALECT ROOT_MODE

The root behaves as ROOT_MODE; each S:<identifier> forks a child that behaves
as the mode named by its identifier (so a test picks a child's fault by the
identifier it spawns). Modes: ok, fail, fail_slow, lazy, exit_early, silent,
no_pid, no_result, lie_pid, garbage, wrong_fd, two_fds, twin (forks two
children for one S), no_pipe (zeus: R without the pipe), pipe_is_socket (zeus),
double_p, double_r, bad_path (a relative loaded-file path after good ones),
flood (a message over 64 KiB), fd_on_channel (an fd after R), stubborn (ignores
SIGTERM and never sends R).

zeus, `C:<name>` to a connected slave picks a broken runner by the command's name:
runner_never (no runner at all), runner_dies (takes the header and fds, exits without
P or status), runner_hangs (takes them, then sleeps), bad_p (sends a three-field P),
stray_p (a P naming another process), ok (a command that writes b"ok" and exits 3),
grandchild_command (ok, the command forked one level further down).
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

DIALECT, ROOT_MODE = sys.argv[1], sys.argv[2]
ZEUS = DIALECT == "zeus"
MASTER = socket.socket(fileno=int(os.environ["ZEUS_MASTER_FD"]))
HANG = 30.0  # "never answers": far beyond any test's step timeout; the master kills us


def files_of(mode: str) -> list[bytes]:
    return [b"/fake/%s/%d.rb" % (mode.encode(), n) for n in range(3)]


class Channel:
    """The slave's own socket (and, in zeus, the loaded-files pipe)."""

    def __init__(self, local: socket.socket) -> None:
        self.local = local
        self.pipe_w: int | None = None

    def send(self, message: bytes) -> None:
        self.local.sendall(message + b"\0") if ZEUS else self.local.send(message)

    def files(self, paths: list[bytes]) -> None:
        if ZEUS:
            if self.pipe_w is not None:
                os.write(self.pipe_w, b"".join(p + b"\n" for p in paths))
        else:
            for path in paths:
                self.local.send(b"F:" + path)


def boot(identifier: str, mode: str, parent_pid: int) -> Channel:
    if mode == "exit_early":
        os._exit(3)
    if mode == "silent":
        time.sleep(HANG)
        os._exit(0)
    local, remote = socket.socketpair(socket.AF_UNIX,
                                      socket.SOCK_STREAM if ZEUS else socket.SOCK_DGRAM)
    if mode == "wrong_fd":
        r, w = os.pipe()
        socket.send_fds(MASTER, [b"\0"], [r])
        time.sleep(HANG)
        os._exit(0)
    fds = [remote.fileno(), remote.fileno()] if mode == "two_fds" else [remote.fileno()]
    socket.send_fds(MASTER, [b"\0"], fds)
    remote.close()
    channel = Channel(local)
    if mode in ("two_fds", "no_pid"):
        time.sleep(HANG)
        os._exit(0)
    if mode == "garbage":
        channel.send(b"hello, I am not a message")
        time.sleep(HANG)
        os._exit(0)
    if mode == "flood":
        big = b"R:" + b"x" * (100_000 if ZEUS else 70_000)
        channel.local.sendall(big) if ZEUS else channel.send(big)
        time.sleep(HANG)
        os._exit(0)
    pid = os.getpid() + (1 if mode == "lie_pid" else 0)
    if ZEUS:
        channel.send(b"P:%d:%d:%s" % (pid, parent_pid, identifier.encode()))
    else:
        channel.send(b"P:%d:%s" % (pid, identifier.encode()))
    if mode == "double_p":
        channel.send(b"P:%d:%d:%s" % (pid, parent_pid, identifier.encode()) if ZEUS
                     else b"P:%d:%s" % (pid, identifier.encode()))
    if ZEUS and mode == "pipe_is_socket":
        socket.send_fds(local, [b"\0"], [MASTER.fileno()])
    elif ZEUS and mode != "no_pipe":
        r, w = os.pipe()
        socket.send_fds(local, [b"\0"], [r])
        os.close(r)
        channel.pipe_w = w
    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if mode in ("no_result", "lie_pid", "stubborn"):
        time.sleep(HANG)
        os._exit(0)
    channel.files(files_of(mode)[:2])
    if mode in ("fail", "fail_slow"):
        channel.send(b"R:Traceback (most recent call last):\n  fake\nRuntimeError: %s\n"
                     % mode.encode())
        if mode == "fail_slow":
            time.sleep(0.3)  # the master must wait for these before it kills us
        channel.files(files_of(mode)[2:])
        os._exit(1)
    channel.send(b"R:OK")
    if mode == "double_r":
        channel.send(b"R:OK")
    if mode == "bad_path":
        time.sleep(0.05)  # the good files are read before the bad one arrives
        channel.files([b"relative/path.rb"])
    if mode == "fd_on_channel":
        socket.send_fds(local, [b"\0"], [MASTER.fileno()])
    if mode == "lazy":
        time.sleep(0.1)
    channel.files(files_of(mode)[2:])
    return channel


def runner(name: str, local: socket.socket) -> None:
    """A runner for C:<name> (a forked child of the slave), broken as `name` says."""
    slave_pid = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the slave's SIG_IGN would hide our child
    os.setsid()
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    socket.send_fds(local, [b"\0"], [theirs.fileno()])
    theirs.close()
    ours.recv(65536)  # the header
    fds = [socket.recv_fds(ours, 1, 1)[1][0] for _ in range(3)]
    if name == "runner_dies":
        os._exit(1)
    if name == "runner_hangs":
        time.sleep(HANG)
        os._exit(0)
    if name == "bad_p":
        ours.send(b"P:%d:%d\0" % (os.getpid(), slave_pid))
        time.sleep(HANG)
        os._exit(0)
    if name == "stray_p":
        ours.send(b"P:1:%d:\0" % slave_pid)  # pid 1: not the runner's child
        time.sleep(HANG)
        os._exit(0)
    # grandchild_command: the runner forks a process that forks the command (CMD-5 asks
    # only "below the slave"); the middle one waits for it, so the chain stays whole
    command = os.fork()
    if command == 0:
        if name == "grandchild_command" and os.fork() != 0:
            os._exit(os.waitstatus_to_exitcode(os.wait()[1]))
        ours.send(b"P:%d:%d:\0" % (os.getpid(), slave_pid))
        os.write(fds[1], b"ok")
        os._exit(3)
    os.waitpid(command, 0)
    ours.send(b"3\0")
    os._exit(0)


def serve(channel: Channel) -> None:
    while True:
        data = channel.local.recv(65536)
        if not data:
            os._exit(0)
        for frame in (data.split(b"\0") if ZEUS else [data]):
            if frame.startswith(b"C:") and frame[2:] != b"runner_never":
                if os.fork() == 0:
                    runner(frame[2:].decode(), channel.local)
                continue
            if not frame.startswith(b"S:"):
                continue
            identifier = frame[2:].decode()
            for _ in range(2 if identifier == "twin" else 1):
                parent = os.getpid()
                if os.fork() == 0:
                    channel.local.close()
                    if channel.pipe_w is not None:
                        os.close(channel.pipe_w)
                    serve(boot(identifier, identifier, parent))


signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
serve(boot("boot" if ZEUS else "", ROOT_MODE, 0))
