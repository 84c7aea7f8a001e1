"""The runtime of `zeus-fsm start`: one Master, one Tree, one FileWatcher, one loop.

    boot what is ready -> stop orphans -> watch what was reported -> show
        -> wait (master loop, woken by slaves, the watcher or a signal)
        -> restart what the changed files ask for -> ...

The Tree decides (start/tree.py); the Master talks to the slaves (master/loop.py); this
module only carries facts between them. Each node's lifecycle follows the
master's: the Master's observer reports every LifecycleMoved of a session and
the node whose process that session is follows it. Restarting the root means
running the command again: the whole Master is closed (every slave stopped, the
root reaped) and a new one started. Every wait is the Master's, bounded by its
step timeouts or by HEARTBEAT.

Its own faults cost nothing that runs: zeus.json is watched too; an invalid
one is shown and the running tree kept until it is fixed; a valid change is
applied (added slaves boot, removed ones stop, a new command restarts the
root). A command that cannot be started is found before anything is stopped
for it: the error is shown, the tree kept, and the restart tried again at the
next change (of zeus.json, the command, or any watched file).
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from types import TracebackType

from zeus_fsm.master.commands import CommandRun
from zeus_fsm.master.loop import Master, SlaveSession
from zeus_fsm.master.observe import LifecycleMoved, ObservedEvent, ProcessAction, ProcessEvent
from zeus_fsm.protocol.errors import ProtocolError
from zeus_fsm.start.clients import ClientServer, Slave
from zeus_fsm.start.config import ConfigError, ZeusConfig, compare, load
from zeus_fsm.start.tree import Node, Tree
from zeus_fsm.start.view import StatusView
from zeus_fsm.start.watch import FileWatcher
from zeus_fsm.transport.fds import (
    Clock,
    close_quietly,
    drain_waker,
    make_waker,
    wake,
)
from zeus_fsm.transport.processes import (
    DIALECT_ENV,
    command_problem,
    process_group_members,
    reap_zombie_children,
)
from zeus_fsm.transport.unix_socket import listen

#: The longest the loop sleeps with nothing to do (it wakes at once for any news).
HEARTBEAT = 1.0
#: How often a stopped slave's parent is checked for having reaped it (seconds).
REAP_POLL = 0.002

EXIT_OK = 0
EXIT_CANNOT_START = 1


class Supervisor:
    """Keeps the config's tree booted until `request_stop()` (a signal handler calls it)."""

    def __init__(self, config: ZeusConfig, dialect: str, view: StatusView, *,
                 step_timeout: float = 5.0, kill_grace: float = 1.0,
                 debounce_ms: int = 300, step_ms: int = 20,
                 env: Mapping[str, str] | None = None,
                 socket_path: Path | None = None, boot_wait: float = 30.0,
                 config_path: Path | None = None) -> None:
        self.config = config
        #: Watched: a change is read and applied (None: the config is fixed).
        self.config_path = config_path
        self.dialect = dialect
        self.view = view
        self.step_timeout = step_timeout
        self.kill_grace = kill_grace
        self.env = {**(os.environ if env is None else env), DIALECT_ENV: dialect}
        self.tree = Tree(config.root)
        self.exit_code = EXIT_OK
        self._wake_read, self._wake_write = make_waker()
        self.watcher = FileWatcher(partial(wake, self._wake_write),
                                   debounce_ms=debounce_ms, step_ms=step_ms)
        self._stopping = False
        self._master: Master | None = None
        self._sessions: dict[str, SlaveSession] = {}  # node -> its current process's session
        self._node_of: dict[int, Node] = {}  # session_id (of this Master) -> node
        self._exits: dict[int, str] = {}  # session_id -> how its process exited
        self._binding: Node | None = None  # the node whose process is being started
        self._moved = False
        self._files_seen = 0
        self._last_settled: object = None
        self._watch_failure: str | None = None
        #: Where clients connect (None: no client socket, the tree only).
        self.socket_path = socket_path
        self.boot_wait = boot_wait
        self.clients: ClientServer | None = None
        self._client_fds: set[int] = set()
        self._config_error: str | None = None  # why the config on disk is not applied
        self._root_deferred = False  # a root restart waits for a command that can run
        self._booted_once = False

    # ---- the caller's side -------------------------------------------------------

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        close_quietly(self._wake_read)
        close_quietly(self._wake_write)

    @property
    def wake_fd(self) -> int:
        """Written to wake the loop: give it to signal.set_wakeup_fd."""
        return self._wake_write

    def request_stop(self) -> None:
        """Stop at the next wake (safe in a signal handler: it only sets a flag and writes)."""
        self._stopping = True
        wake(self._wake_write)

    def run(self) -> int:
        """Boot the tree and keep it booted until stopped; every slave is stopped on return."""
        try:
            self._open_clients()
            self._open_master()
            while not self._stopping:
                self._step()
                if self._stopping:
                    break
                self._wait()
                self._apply_changes()
        finally:
            self._shutdown()
        return self.exit_code

    # ---- one round -------------------------------------------------------------------

    def _step(self) -> None:
        """Boot what is ready and stop orphans until neither is left, then show and watch."""
        self._moved = False
        while not self._stopping:
            self._sync_files()
            orphans = self.tree.orphans()
            if orphans:
                self._stop_nodes(orphans)
                for node in orphans:
                    self._reset(node)
                continue
            ready = [node for node in self.tree.ready_to_boot()
                     if node.parent is not None or not self._root_deferred]
            if not ready:
                break
            self._boot(ready[0])
        self._sync_files()
        self._reap_orphans()
        self.watcher.watch([*self.tree.watched(), *self._own_files()])
        self.view.refresh(self.tree)
        self._report_settled()

    def _wait(self) -> None:
        assert self._master is not None
        handlers = self.clients.handlers() if self.clients is not None else None
        self._master.run(self._news, HEARTBEAT, wake=[self._wake_read], handlers=handlers)

    def _news(self) -> bool:
        if self.clients is not None:
            self.clients.tick()  # answer what this round made answerable (a pid, a status)
            if set(self.clients.handlers()) != self._client_fds:
                self._client_fds = set(self.clients.handlers())
                return True  # a connection came or went: poll the new set of fds
        woken = bool(drain_waker(self._wake_read))
        return woken or self._stopping or self._moved or self._files_total() != self._files_seen

    def _apply_changes(self) -> None:
        if self.watcher.failure != self._watch_failure:
            self._watch_failure = self.watcher.failure
            if self._watch_failure:
                self.view.note("error", message=self._watch_failure)
        changed = self.watcher.take()
        if not changed or self._stopping:
            return
        config = self._config_file()
        if config is not None and config in changed:
            changed.discard(config)
            self._reload()
        if self._root_deferred:  # something changed: perhaps the command can run now
            self._restart_root()
            if not self._root_deferred:
                return  # the whole tree restarted: nothing else to plan
        plan = self.tree.plan_restart(changed, {path: _ctime_ns(path) for path in changed})
        if not plan.tops:
            return
        self.view.note("restart", nodes=[node.identifier for node in plan.tops],
                       files=sorted({os.fsdecode(path) for paths in plan.because.values()
                                     for path in paths}))
        if plan.restarts_root:
            self._restart_root()
            return
        self._stop_nodes(plan.stop)
        for top in plan.tops:
            for node in self.tree.subtree(top):
                self._reset(node)

    # ---- the runtime's own faults ---------------------------------------------------------

    def _config_file(self) -> bytes | None:
        return None if self.config_path is None else os.fsencode(
            os.path.abspath(self.config_path))

    def _own_files(self) -> list[bytes]:
        """zeus.json, and the command while a restart waits for it to become runnable."""
        files = [path for path in [self._config_file()] if path is not None]
        program = self.config.command[0]
        if self._root_deferred and os.sep in program:
            files.append(os.fsencode(os.path.normpath(os.path.join(self.config.directory,
                                                                   program))))
        return files

    def _reload(self) -> None:
        """zeus.json changed: apply it, or keep the running tree and show why not."""
        assert self.config_path is not None
        try:
            config = load(self.config_path)
        except ConfigError as error:
            self._config_error = str(error)
            self.view.note("error", message=f"{error} (the running tree is kept until the "
                                            "config is fixed)")
            return
        if self._config_error is not None:
            self._config_error = None
            self.view.note("config", message=f"{self.config_path} is valid again")
        change = compare(self.config, config)
        if change.empty:
            return
        problem = command_problem(config.command, str(config.directory), self.env)
        if problem is not None:
            self.view.note("error", message=f"{self.config_path}: the new command cannot be "
                                            f"started: {problem} (the running tree is kept)")
            return
        self.view.note("config", message=f"{self.config_path} changed: {change.describe()}",
                       added=list(change.added), removed=list(change.removed))
        if change.restarts_root:
            self.config = config
            tree = Tree(config.root)
            self._restart_root(tree, change.kept)
            return
        gone = [self.tree.nodes[i] for i in change.removed if self.tree.nodes[i].lifecycle.live]
        self._stop_nodes(sorted(gone, key=lambda node: node.depth, reverse=True))
        tree = Tree(config.root)
        tree.carry_over(self.tree, change.kept)
        self._node_of = {sid: tree.nodes[node.identifier] for sid, node in self._node_of.items()
                         if node.identifier in change.kept}
        self._sessions = {i: s for i, s in self._sessions.items() if i in change.kept}
        self.tree, self.config = tree, config
        self._last_settled = None  # the rows changed: say so once settled

    def _restart_root(self, tree: Tree | None = None, kept: frozenset[str] = frozenset()
                      ) -> None:
        """Run the command again (every slave stops, the root is reaped, all boot again),
        unless the command cannot be started: then the running tree is kept."""
        problem = command_problem(self.config.command, str(self.config.directory), self.env)
        if problem is not None:
            if not self._root_deferred:
                self.view.note("error", message=f"cannot restart the root: {problem} (the "
                                                "running tree is kept; retried at the next "
                                                "change)")
            self._root_deferred = True
            return
        self._root_deferred = False
        self._close_master()
        if tree is not None:  # a new plan: its slaves that were in the old one go on counting
            tree.carry_over(self.tree, kept)
            self.tree = tree
            self._last_settled = None
        for node in self.tree.order():
            self._reset(node)
        self._open_master()

    # ---- acting on nodes ----------------------------------------------------------------

    def _boot(self, node: Node) -> None:
        assert self._master is not None
        self._binding = node
        try:
            if node.parent is None:
                self._master.boot_root()
                self._booted_once = True
            else:
                self._master.spawn(self._sessions[node.parent.identifier], node.identifier)
        except OSError as error:  # the command could not be run at all
            self.view.note("error", message=f"cannot start {' '.join(self.config.command)}: "
                                            f"{error}")
            if not self._booted_once:  # nothing runs to keep: say so and exit
                self.exit_code = EXIT_CANNOT_START
                self._stopping = True
            else:  # it went away under us: wait for a change, as for a deferred restart
                node.error = f"cannot start the command: {error}"
                self._root_deferred = True
        except ProtocolError as error:  # S refused by the parent's handshake: show it there
            parent = node.parent
            assert parent is not None
            parent.error = str(error)
            self._stop_node(parent)
        finally:
            self._binding = None

    def _stop_node(self, node: Node) -> None:
        session = self._sessions.get(node.identifier)
        if self._master is not None and session is not None and session.lifecycle.live:
            self._master.stop(session)

    def _stop_nodes(self, nodes: Sequence[Node]) -> None:
        """Stop nodes given deepest first; a stopped slave's parent slave, if it still
        runs, reaps it before it is stopped in turn (else its zombie goes to init)."""
        for node in nodes:
            pid = node.pid
            self._stop_node(node)
            parent = self._sessions.get(node.parent.identifier) if node.parent else None
            if pid is not None and parent is not None and parent.lifecycle.live \
                    and not parent.exited:
                self._await_reaped(pid)
        self._reap_orphans()

    def _reap_orphans(self) -> None:
        """Slaves whose parent slave died are ours (start makes this process a subreaper):
        reap the stopped ones. The current root is its Popen's to reap."""
        root = self._master.root if self._master is not None else None
        keep = [root.process.pid] if root is not None and root.process is not None else []
        reap_zombie_children(keep)

    def _await_reaped(self, pid: int) -> None:
        """Bounded: a parent slave reaps on SIGCHLD within milliseconds; nothing signals it."""
        root = self._master.root if self._master is not None else None
        if root is None or root.pid is None:
            return
        clock = Clock(self.kill_grace)
        while pid in process_group_members(root.pid, zombies=True) and not clock.expired:
            self._reap_orphans()  # its parent may have died meanwhile: then it is ours
            time.sleep(REAP_POLL)

    def _reset(self, node: Node) -> None:
        if self.tree.reset(node):
            self.view.node_changed(self.tree, node, "reset")

    # ---- clients ----------------------------------------------------------------------

    def _open_clients(self) -> None:
        if self.socket_path is None:
            return
        try:
            listener = listen(self.socket_path)
        except OSError as error:  # another master answers there, or no such folder
            self.view.note("error", message=f"cannot serve {self.socket_path}: {error}")
            self.exit_code = EXIT_CANNOT_START
            self._stopping = True
            return
        self.clients = ClientServer(listener, self, self.view.note,
                                    step_timeout=self.step_timeout, boot_wait=self.boot_wait)
        self.view.note("listening", socket=str(self.socket_path))

    def find_command(self, name: str) -> tuple[str, str] | None:
        found = self.config.find_command(name)
        return None if found is None else (found[0].identifier, found[1])

    def slave(self, identifier: str) -> Slave:
        node = self.tree.nodes.get(identifier)
        if node is None:  # zeus.json changed while a client waited for it
            return Slave("crashed", error=f"{identifier} is no longer in the plan")
        session = self._sessions.get(identifier)
        status = self.tree.status(node)
        if node.state == "connected" and session is not None and session.ok:
            return Slave("connected", session)
        if status in ("crashed", "blocked"):
            blocker = self.tree.blocked_by(node) or node
            return Slave("crashed", error=blocker.error or f"{blocker.identifier} crashed")
        return Slave("waiting")

    def start_command(self, session: SlaveSession, name: str, client_pid: int,
                      fds: tuple[int, int, int], argc: int) -> CommandRun:
        assert self._master is not None
        return self._master.start_command(session, name, client_pid, fds, argc)

    def end_command(self, run: CommandRun) -> None:
        if self._master is not None:
            self._master.end_command(run)

    # ---- the master -------------------------------------------------------------------

    def _open_master(self) -> None:
        self._master = Master(self.config.command, self.dialect,
                              step_timeout=self.step_timeout, kill_grace=self.kill_grace,
                              observer=self._observe, env=self.env,
                              cwd=str(self.config.directory))

    def _close_master(self) -> None:
        if self._master is not None:
            # Children first, each reaped by its parent; then close() stops the root.
            live = [n for n in self.tree.order() if n.parent is not None and n.lifecycle.live]
            self._stop_nodes(sorted(live, key=lambda n: n.depth, reverse=True))
            self._master.close()  # every slave stopped, the root reaped, every fd closed
        self._master = None
        self._reap_orphans()
        self._sessions.clear()
        self._node_of.clear()
        self._exits.clear()
        self._files_seen = 0
        # The old tree's sessions are cycles (machines bound to their models): free them
        # now, before the new tree allocates, or the heap grows to hold both.
        gc.collect()

    def _shutdown(self) -> None:
        self._stopping = True
        try:
            self.watcher.close()
            if self.clients is not None:
                self.clients.close()  # every client told nothing more; the socket removed
            self._close_master()
        finally:
            self.view.note("exit", code=self.exit_code)
            self.view.close()

    def _observe(self, event: ObservedEvent) -> None:
        """The Master's events: a node follows every lifecycle move of its process."""
        if isinstance(event, ProcessEvent) and event.action is ProcessAction.EXITED \
                and event.session is not None:
            if event.session.session_id in self._node_of:  # a stray's exit is nobody's row
                self._exits[event.session.session_id] = event.detail
            return
        if not isinstance(event, LifecycleMoved):
            return
        session_id = event.session.session_id
        node = self._node_of.get(session_id)
        if node is None:
            node = self._binding  # a new session: the process being started for this node
            if node is None:
                return
            self._node_of[session_id] = node
            session = self._find_session(session_id)
            if session is not None:
                self._bind(node, session)
        self.tree.moved(node, event.trigger, time.time_ns())
        session = self._sessions.get(node.identifier)
        if session is not None and session.session_id == session_id:
            node.pid = session.pid or node.pid
            if event.trigger == "fail":
                node.error = _error_text(session, self._exits.get(session_id))
        self._moved = True
        self.view.node_changed(self.tree, node, event.trigger)

    def _bind(self, node: Node, session: SlaveSession) -> None:
        """The node's process is now this session's: what was kept about its last one goes
        (a node holds one session, so these tables stay as small as the tree)."""
        old = self._sessions.get(node.identifier)
        if old is not None and old is not session:
            self._node_of.pop(old.session_id, None)
            self._exits.pop(old.session_id, None)
        self._sessions[node.identifier] = session

    def _find_session(self, session_id: int) -> SlaveSession | None:
        assert self._master is not None
        for session in reversed(self._master.sessions):
            if session.session_id == session_id:
                return session
        return None

    def _sync_files(self) -> None:
        for identifier, session in self._sessions.items():
            node = self.tree.nodes[identifier]
            if len(session.loaded_files) != len(node.files):
                node.files = frozenset(session.loaded_files)
        self._files_seen = self._files_total()

    def _files_total(self) -> int:
        return sum(len(session.loaded_files) for session in self._sessions.values())

    def _report_settled(self) -> None:
        if not (self.tree.settled() and self.watcher.up_to_date):
            return
        snapshot = tuple((n.identifier, self.tree.status(n), n.pid, len(n.files))
                         for n in self.tree.order())
        if snapshot != self._last_settled:
            self._last_settled = snapshot
            self.view.settled(self.tree)


def _error_text(session: SlaveSession, exit_detail: str | None) -> str:
    if session.result is not None and session.result.error is not None:
        return session.result.error
    if session.errors:
        return str(session.errors[0])
    if exit_detail is not None:  # connected, then gone: no rule broken, no R to show
        return f"the slave's process exited{f' ({exit_detail})' if exit_detail else ''}"
    if session.handshake.phase == "closed":  # zeus: EOF on its socket came first
        return "the slave closed its channel (it exited?)"
    return "the slave failed"


def _ctime_ns(path: bytes) -> int | None:
    """When the file last changed (ctime cannot be set back, unlike mtime); None if gone."""
    try:
        return os.stat(path).st_ctime_ns
    except OSError:
        return None
