"""Read a Zeus-style `zeus.json` into a checked, frozen config (sans-I/O but for `load`).

The shape is Zeus's own::

    {"command": "{python} -m zeus_fsm.slave --plan mod:Plan",
     "plan": {"boot": {"child_a": {"grandchild": {}},
                       "child_b": {},
                       "console": ["python", "c"]}}}

`plan` has exactly one root, `boot` (the action every root slave runs). An
object value is a slave node booted by `S:<key>` from its parent; an array value
is a command (Zeus's `C`) run by that slave, the array its aliases; `null` is a
command without aliases. Any other value is an error, as in Zeus.
Identifiers name nodes in the status view, so each appears once in the tree.

`command` is a shell-like string (split with shlex, run without a shell so the
root's pid is the one the master started) or a list of words. The word
`{python}` stands for the interpreter running zeus-fsm. It runs in the config
file's directory.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import attrs

from zeus_fsm.protocol.messages import SpawnCommand, SpawnSlave

#: The root's action: every slave runs `boot` first (Zeus's plan calls it so too).
ROOT_IDENTIFIER = "boot"
#: A command word replaced by sys.executable, so a config can name "this Python".
PYTHON_WORD = "{python}"


class ConfigError(ValueError):
    """The config cannot be used; the message says where (file and JSON path) and why."""


@attrs.frozen
class NodeSpec:
    """One slave in the plan: its identifier, its child slaves, its commands (each a name
    and its aliases)."""

    identifier: str
    children: tuple[NodeSpec, ...] = ()
    commands: tuple[tuple[str, ...], ...] = ()


@attrs.frozen
class ZeusConfig:
    command: tuple[str, ...]
    root: NodeSpec
    #: Where the command runs: the config file's directory.
    directory: Path
    source: str = "<config>"

    def find_command(self, name: str) -> tuple[NodeSpec, str] | None:
        """The slave that runs command `name` (a name or an alias) and its canonical name;
        the first match in plan order wins, as in Zeus."""
        for node in _walk(self.root):
            for names in node.commands:
                if name in names:
                    return node, names[0]
        return None


def load(path: Path) -> ZeusConfig:
    """Read and check a config file; ConfigError says what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the config: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason})") from None
    return parse(text, path.resolve().parent, str(path))


def parse(text: str, directory: Path, source: str = "<config>") -> ZeusConfig:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{source}:{error.lineno}:{error.colno}: invalid JSON: {error.msg}") \
            from None
    return from_document(document, directory, source)


def from_document(document: object, directory: Path, source: str = "<config>") -> ZeusConfig:
    where = _Where(source)
    if not isinstance(document, dict):
        raise where.error("", f"the config must be a JSON object, not {_kind(document)}")
    unknown = sorted(set(document) - {"command", "plan"})
    if unknown:
        raise where.error("", f"unknown key(s) {', '.join(map(repr, unknown))}: "
                              "expected \"command\" and \"plan\"")
    command = _command(document.get("command"), where)
    plan = document.get("plan")
    if not isinstance(plan, dict):
        raise where.error("plan", "\"plan\" must be an object like {\"boot\": {...}}, "
                                  f"not {_kind(plan)}")
    if list(plan) != [ROOT_IDENTIFIER]:
        raise where.error("plan", f"the plan must have exactly one root, \"{ROOT_IDENTIFIER}\" "
                                  f"(the action every root slave runs); found {list(plan)!r}")
    seen: set[str] = set()
    root = _node(ROOT_IDENTIFIER, plan[ROOT_IDENTIFIER], f"plan.{ROOT_IDENTIFIER}", where, seen)
    return ZeusConfig(command=command, root=root, directory=directory, source=source)


# ---- internals -----------------------------------------------------------------


@attrs.frozen
class _Where:
    source: str

    def error(self, path: str, message: str) -> ConfigError:
        return ConfigError(f"{self.source}: {path + ': ' if path else ''}{message}")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _command(value: object, where: _Where) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            words = shlex.split(value)
        except ValueError as error:
            raise where.error("command", f"cannot split {value!r}: {error}") from None
    elif isinstance(value, list) and all(isinstance(word, str) for word in value):
        words = list(value)
    elif value is None:
        raise where.error("command", "\"command\" is missing: the command that starts the root "
                                     "slave, e.g. \"{python} -m zeus_fsm.slave\"")
    else:
        raise where.error("command", f"must be a string or an array of strings, not {_kind(value)}")
    if not words:
        raise where.error("command", "is empty")
    return tuple(sys.executable if word == PYTHON_WORD else word for word in words)


def _node(identifier: str, value: object, path: str, where: _Where, seen: set[str]) -> NodeSpec:
    if not isinstance(value, dict):
        raise where.error(path, f"a slave must be an object (its children), not {_kind(value)}")
    seen.add(identifier)
    children: list[NodeSpec] = []
    commands: list[tuple[str, ...]] = []
    for key, child in value.items():
        child_path = f"{path}.{key}"
        if child is None or isinstance(child, list):
            commands.append(_command_entry(key, child or [], child_path, where))
            continue
        _check_identifier(key, child_path, where, seen)
        children.append(_node(key, child, child_path, where, seen))
    return NodeSpec(identifier, tuple(children), tuple(commands))


def _walk(node: NodeSpec) -> list[NodeSpec]:
    """The plan's nodes, depth first in document order."""
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


def _command_entry(name: str, aliases: list[object], path: str,
                   where: _Where) -> tuple[str, ...]:
    if not all(isinstance(alias, str) for alias in aliases):
        raise where.error(path, "a command's aliases must be strings")
    try:
        SpawnCommand(name)  # C:<name> must be a message the wire can carry
    except ValueError as error:
        raise where.error(path, f"{name!r} cannot be a command name: {error}") from None
    return (name, *(str(alias) for alias in aliases))


def _check_identifier(key: str, path: str, where: _Where, seen: set[str]) -> None:
    try:
        SpawnSlave(key)  # S:<identifier> must be a message the wire can carry
    except ValueError as error:
        raise where.error(path, f"{key!r} cannot be a slave identifier: {error}") from None
    if key in seen:
        raise where.error(path, f"{key!r} appears twice in the plan: each slave identifier "
                                "names one node")



# ---- a changed config ------------------------------------------------------------


@attrs.frozen
class ConfigChange:
    """What a new config changes in a running tree (sans-I/O: compared, not applied)."""

    #: The command or its directory changed: the root, so the whole tree, runs again.
    restarts_root: bool
    #: Slaves in both plans at the same place (same chain of parents): they keep running.
    kept: frozenset[str]
    #: Slaves that go (or move), and slaves that are new (or moved), in plan order.
    removed: tuple[str, ...]
    added: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.restarts_root or self.removed or self.added)

    def describe(self) -> str:
        if self.restarts_root:
            return "the command changed: the whole tree restarts"
        parts = [f"{label} {', '.join(ids)}" for label, ids in
                 (("added", self.added), ("removed", self.removed)) if ids]
        return "; ".join(parts) or "no slave changed"


def compare(old: ZeusConfig, new: ZeusConfig) -> ConfigChange:
    """Which slaves a new config adds, removes or keeps. Commands (C) are never run, so
    a change of them alone changes nothing."""
    before, after = _places(old.root), _places(new.root)
    kept = frozenset(i for i, place in after.items() if before.get(i) == place)
    return ConfigChange(
        restarts_root=(old.command, old.directory) != (new.command, new.directory),
        kept=kept,
        removed=tuple(i for i in before if i not in kept),
        added=tuple(i for i in after if i not in kept))


def _places(root: NodeSpec) -> dict[str, tuple[str, ...]]:
    """identifier -> the chain of identifiers from the root down to it, in plan order."""
    out: dict[str, tuple[str, ...]] = {}

    def visit(node: NodeSpec, above: tuple[str, ...]) -> None:
        out[node.identifier] = (*above, node.identifier)
        for child in node.children:
            visit(child, out[node.identifier])

    visit(root, ())
    return out
