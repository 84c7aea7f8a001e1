"""`zeus-fsm decode`: the issue's three commands, the pipe, and usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from zeus_fsm.cli import main


def decode(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["decode", *args], env=env)


def printed(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_spec_three_datagrams_print_three_messages() -> None:
    result = decode("--dialect", "spec", "P:1235:default_bundle", "R:OK", "F:/usr/local/foo.rb")
    assert result.exit_code == 0, result.output
    assert printed(result) == [
        {"type": "pid", "pid": 1235, "identifier": "default_bundle"},
        {"type": "result", "ok": True, "error": None},
        {"type": "files", "paths": ["/usr/local/foo.rb"]},
    ]
    assert result.stderr == ""


def test_zeus_message_split_across_reads_prints_two() -> None:
    result = decode("--dialect", "zeus", "P:4605:0:boot\\0\\0R:O", "K\\0")
    assert result.exit_code == 0, result.output
    assert printed(result) == [
        {"type": "pid", "pid": 4605, "parent_pid": 0, "identifier": "boot"},
        {"type": "result", "ok": True, "error": None},
    ]


def test_zeus_bad_pid_exits_1_naming_the_field_and_requirement() -> None:
    result = decode("--dialect", "zeus", "P:abc:0:boot\\0")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "pid field b'abc'" in result.stderr
    assert "FRAME-4" in result.stderr
    assert result.stderr.startswith("zeus-fsm decode: slave broke FRAME-4")


def test_messages_before_the_error_are_still_printed() -> None:
    result = decode("--dialect", "zeus", "R:OK\\0S:\\0")
    assert result.exit_code == 1
    assert printed(result) == [{"type": "result", "ok": True, "error": None}]
    assert "FRAME-5" in result.stderr


def test_stream_ending_inside_a_frame_is_an_error() -> None:
    result = decode("--dialect", "zeus", "R:OK")
    assert result.exit_code == 1
    assert "FRAME-2" in result.stderr


def test_pipe_lines_across_reads() -> None:
    result = decode("--dialect", "zeus", "--pipe", "/app/a.rb\\n/app/", "b.rb\\n/caf\\xe9.rb\\n")
    assert result.exit_code == 0, result.output
    assert printed(result) == [
        {"type": "files", "paths": ["/app/a.rb"]},
        {"type": "files", "paths": ["/app/b.rb", "/caf\udce9.rb"]},
    ]
    assert "\\udce9" in result.stdout  # ASCII JSON: the non-UTF-8 byte is escaped


def test_pipe_bad_line_exits_1() -> None:
    result = decode("--dialect", "zeus", "--pipe", "relative.rb\\n")
    assert result.exit_code == 1
    assert "FILES-1" in result.stderr


def test_dialect_from_the_environment() -> None:
    result = decode("P:4605:0:boot\\0", env={"ZEUS_FSM_DIALECT": "zeus"})
    assert result.exit_code == 0, result.output
    assert printed(result)[0]["parent_pid"] == 0


@pytest.mark.parametrize(("args", "complaint"), [
    (["--dialect", "spec"], "Missing argument"),
    (["--dialect", "spec", "--pipe", "/a\\n"], "--pipe needs --dialect zeus"),
    (["--dialect", "ruby", "R:OK"], "Invalid value for '--dialect'"),
    (["--dialect", "spec", "R:OK\\"], "cannot read"),
    (["--dialect", "spec", "R:\\x4"], "cannot read"),
])
def test_usage_errors_exit_2(args: list[str], complaint: str) -> None:
    result = decode(*args)
    assert result.exit_code == 2
    assert complaint in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", [["zeus-fsm"], ["-m", "zeus_fsm"]])
def test_installed_entry_points(command: list[str]) -> None:
    executable = Path(sys.executable)
    argv = ([str(executable.with_name(command[0]))] if command[0] == "zeus-fsm"
            else [str(executable), *command])
    result = subprocess.run([*argv, "decode", "--dialect", "zeus", "P:abc:0:boot\\0"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "FRAME-4" in result.stderr
    ok = subprocess.run([*argv, "decode", "--dialect", "spec", "R:OK"],
                        capture_output=True, text=True, timeout=60, check=False)
    assert (ok.returncode, json.loads(ok.stdout)) == (0, {"type": "result", "ok": True,
                                                          "error": None})


def test_command_path_options_are_zeus_only_and_exclusive() -> None:
    result = decode("--dialect", "spec", "--runner", "P:1:2:\\0")
    assert result.exit_code == 2 and "needs --dialect zeus" in result.output
    result = decode("--dialect", "zeus", "--runner", "--pipe", "x")
    assert result.exit_code == 2 and "exclude each other" in result.output
    result = decode("--dialect", "zeus", "--header", "1:0\\0", "2:0\\0")
    assert result.exit_code == 2 and "one CHUNK" in result.output


def test_runner_socket_decodes_and_names_the_broken_rule() -> None:
    result = decode("--dialect", "zeus", "--runner", "P:16301:16225:\\0", "3\\0")
    assert result.exit_code == 0, result.output
    assert printed(result) == [{"type": "command_pid", "pid": 16301, "slave_pid": 16225},
                               {"type": "exit_status", "code": 3}]
    result = decode("--dialect", "zeus", "--runner", "P:16301:16225\\0")
    assert result.exit_code == 1
    assert result.stderr.startswith("zeus-fsm decode: slave broke CMD-5")
    result = decode("--dialect", "zeus", "--arguments", "2", "a\\0\\0")
    assert printed(result) == [{"type": "arguments", "args": ["a", ""]}]
