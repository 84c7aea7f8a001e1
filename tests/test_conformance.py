"""`zeus-fsm check`: every case fails against a slave that breaks its rule, and only then.

The broken slaves and what each must fail come from tests/broken_slaves/README.md
(its table is the single source of truth); the reference slave must pass everything.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import attrs
import pytest

from zeus_fsm.conformance import cases as catalogue
from zeus_fsm.conformance.cases import PlanIds
from zeus_fsm.conformance.driver import Judge
from zeus_fsm.conformance.report import TextReport, markdown_table
from zeus_fsm.conformance.runner import (
    FAILED,
    PASSED,
    SKIPPED,
    WARNING,
    CaseResult,
    RunConfig,
    run,
    run_case,
)
from zeus_fsm.protocol.dialects import get_dialect
from zeus_fsm.protocol.errors import CredentialsMismatch
from zeus_fsm.protocol.requirements import BY_ID
from zeus_fsm.transport.processes import process_group_members as group_members

ROOT = Path(__file__).resolve().parent.parent
BROKEN = ROOT / "tests" / "broken_slaves"
DIALECTS = ("spec", "zeus")
#: Step timeout for broken-slave runs: long enough for a loaded machine, short for hangs.
TIMEOUT = 2.0
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed(, (\d+) skipped)?$")


@attrs.frozen
class Row:
    slave: str
    breaks: frozenset[str]
    run: tuple[str, ...] | None  # None: the whole catalogue
    fails: dict[str, frozenset[str]]


def _ids(cell: str) -> frozenset[str]:
    return frozenset() if cell.strip() == "-" else frozenset(
        part.strip() for part in cell.split(",") if part.strip())


def _table() -> list[Row]:
    rows = []
    for line in (BROKEN / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[0].startswith("`"):
            continue
        slave, breaks, selection, spec, zeus = cells
        rows.append(Row(slave.strip("`"), _ids(breaks) if breaks != "nothing" else frozenset(),
                        None if selection == "all" else tuple(sorted(_ids(selection))),
                        {"spec": _ids(spec), "zeus": _ids(zeus)}))
    return rows


TABLE = _table()
#: Whole-catalogue runs of broken slaves: their exact failing sets (also in the README).
FULL_RUNS = {
    ("forks_twice.py", "zeus"): {"6.4"},
    ("crashes_on_command.py", "spec"): {"6.3"},
    ("relative_path.py", "spec"): {"5.1", "5.2", "5.3", "5.4", "5.5"},
    ("drops_files_after_failure.py", "zeus"): {"7.2"},
}


def _slave(name: str) -> tuple[str, ...]:
    return (sys.executable, str(BROKEN / name))


def _run(slave: str, dialect: str, ids: tuple[str, ...] | None) -> list[CaseResult]:
    selected = [c for c in catalogue.cases_for(dialect) if ids is None or c.id in ids]
    config = RunConfig(_slave(slave), dialect, TIMEOUT, strict=True)
    return run(selected, config)


Matrix = dict[tuple[str, ...], list[CaseResult]]


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    """Every table row in both dialects, plus the whole-catalogue runs, a few at a time."""
    jobs: dict[tuple[str, ...], tuple[str, ...] | None] = {
        (row.slave, d): row.run for row in TABLE for d in DIALECTS}
    jobs.update({(*key, "full"): None for key in FULL_RUNS})
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        futures = {key: pool.submit(_run, key[0], key[1], ids) for key, ids in jobs.items()}
        return {key: future.result() for key, future in futures.items()}


def _failed(results: list[CaseResult]) -> set[str]:
    return {r.case.id for r in results if r.verdict == FAILED}


#: Cases only a privileged checker can judge (PID-6: a slave must change uid to break it).
PRIVILEGED = frozenset({"2.10"}) if os.geteuid() != 0 else frozenset()


# ---- the broken slaves --------------------------------------------------------


def test_the_table_lists_every_broken_slave() -> None:
    scripts = {p.name for p in BROKEN.glob("*.py")}
    assert scripts == {row.slave for row in TABLE}
    for row in TABLE:
        assert row.breaks <= set(BY_ID), row
        for dialect, fails in row.fails.items():
            runnable = {c.id for c in catalogue.cases_for(dialect)}
            assert fails <= runnable & set(row.run or runnable), (row, dialect)


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("row", TABLE, ids=[row.slave for row in TABLE])
def test_broken_slave_fails_exactly_its_cases(matrix: Matrix,
                                              row: Row, dialect: str) -> None:
    results = matrix[(row.slave, dialect)]
    assert results, "the run selected no case"
    assert _failed(results) == row.fails[dialect] - PRIVILEGED, [
        (r.case.id, r.verdict, r.violated, r.actual) for r in results]
    for result in results:
        if result.case.id in row.fails[dialect]:
            assert result.violated in row.breaks, (result.case.id, result.violated, result.actual)
            assert result.expected and result.actual
            assert result.sentence and result.sentence.startswith(f"{result.violated} (")
        elif result.case.id in PRIVILEGED:
            assert result.verdict == SKIPPED and "privileges" in (result.actual or "")
        else:
            assert result.verdict == PASSED, (result.case.id, result.verdict, result.actual)


def test_every_case_fails_with_its_own_requirement_against_some_broken_slave(
        matrix: Matrix) -> None:
    caught = {(dialect, r.case.id) for (slave, dialect, *_), results in matrix.items()
              for r in results if r.verdict == FAILED and r.violated == r.case.requirement}
    needed = {(d, c.id) for d in DIALECTS for c in catalogue.cases_for(d)
              if c.id not in PRIVILEGED}
    assert needed - caught == set()


def _live_processes_running(path: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _alive(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{entry.name}: {cmdline}")
    return found


def test_no_broken_slave_process_survives_the_runs(matrix: Matrix) -> None:
    assert matrix
    assert _live_processes_running(BROKEN) == []


@pytest.mark.parametrize("key", sorted(FULL_RUNS))
def test_whole_catalogue_runs_fail_only_where_expected(
        matrix: Matrix, key: tuple[str, str]) -> None:
    results = matrix[(*key, "full")]
    assert len(results) == len(catalogue.cases_for(key[1]))
    assert _failed(results) == FULL_RUNS[key]


def test_a_failure_report_names_the_requirement_and_shows_expected_and_actual(
        matrix: Matrix) -> None:
    lines: list[str] = []
    report = TextReport(lines.append)
    results = matrix[("child_wrong_pid.py", "zeus")]
    for result in results:
        report.case(result)
    report.finish(results)
    text = "\n".join(lines)
    assert "FAIL 2.6" in text and "PASS 2.2" in text
    assert "Expected: " in text and "Actual:   " in text
    assert "PID-2 (MUST): The pid in P is the slave's own pid" in text
    assert lines[-1] == "1 passed, 1 failed"


# ---- the command line ------------------------------------------------------------


def _check(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "zeus_fsm", "check", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory: pytest.TempPathFactory,
                   ) -> dict[str, tuple[subprocess.CompletedProcess[str], Path, Path]]:
    out = tmp_path_factory.mktemp("reference")
    runs = {}
    for dialect in DIALECTS:
        junit, js = out / f"{dialect}.xml", out / f"{dialect}.json"
        runs[dialect] = (_check("--dialect", dialect, "--junit", str(junit), "--json", str(js)),
                         junit, js)
    return runs


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_reference_slave_passes_everything(
        reference_runs: dict[str, tuple[subprocess.CompletedProcess[str], Path, Path]],
        dialect: str) -> None:
    done, _, _ = reference_runs[dialect]
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.rstrip("\n").splitlines()[-1]
    assert last == f"{len(catalogue.cases_for(dialect))} passed, 0 failed"
    assert "\x1b[" not in done.stdout  # no colour when the output is not a terminal


@pytest.mark.parametrize("dialect", DIALECTS)
def test_junit_has_a_suite_per_section_and_json_every_case(
        reference_runs: dict[str, tuple[subprocess.CompletedProcess[str], Path, Path]],
        dialect: str) -> None:
    _, junit, js = reference_runs[dialect]
    expected = catalogue.cases_for(dialect)
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == list(dict.fromkeys(
        f"{c.section}. {c.section_title}" for c in expected))
    testcases = [tc for s in suites for tc in s.findall("testcase")]
    assert len(testcases) == len(expected)
    for tc, case in zip(testcases, expected, strict=True):
        assert tc.get("name", "").startswith(f"{case.id} ")
        assert tc.get("classname", "").startswith(f"zeus_fsm.check.{dialect}.section")
        assert tc.find("failure") is None
    document = json.loads(js.read_text(encoding="utf-8"))
    assert [(c["id"], c["requirement"], c["verdict"]) for c in document["cases"]] == [
        (c.id, c.requirement, PASSED) for c in expected]


def test_failures_in_junit_json_and_text(tmp_path: Path) -> None:
    junit, js = tmp_path / "r.xml", tmp_path / "r.json"
    done = _check("--dialect", "zeus", "--timeout", "2", "-k", "6.1,6.4", "--junit", str(junit),
                  "--json", str(js), "--", *_slave("forks_twice.py"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "1 passed, 1 failed"
    assert "6. Spawning children" in done.stdout
    assert "SPAWN-5 (MUST): One S yields exactly one registration" in done.stdout
    failures = ET.parse(junit).getroot().findall(".//testcase/failure")
    assert [f.get("type") for f in failures] == ["SPAWN-5"]
    verdicts = {c["id"]: (c["verdict"], c["violated_requirement"])
                for c in json.loads(js.read_text(encoding="utf-8"))["cases"]}
    assert verdicts == {"6.1": (PASSED, None), "6.4": (FAILED, "SPAWN-5")}


def test_a_never_answering_slave_fails_within_the_timeout_and_the_run_goes_on(
        tmp_path: Path) -> None:
    js = tmp_path / "r.json"
    started = time.monotonic()
    done = _check("--timeout", "1", "-j", "1", "-k", "1.1,1.4", "--json", str(js), "--",
                  *_slave("never_answers.py"))
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    cases = {c["id"]: c for c in json.loads(js.read_text(encoding="utf-8"))["cases"]}
    assert cases["1.1"]["verdict"] == FAILED and cases["1.1"]["violated_requirement"] == "SOCKET-2"
    assert "within 1 s" in cases["1.1"]["actual"]
    assert 1.0 <= cases["1.1"]["seconds"] < 1.0 + 1.0
    assert cases["1.4"]["verdict"] == PASSED  # the run went on after the hang
    assert elapsed < 10


def test_colour_only_on_a_terminal() -> None:
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "zeus_fsm", "check", "-k", "1.1", "--",
                               *_slave("minimal_slave.py")], stdout=follower,
                              stderr=subprocess.PIPE, timeout=60, cwd=ROOT)
        os.close(follower)
        follower = -1
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert done.returncode == 0
    assert b"\x1b[32mPASS\x1b[0m 1.1" in output
    assert output.rstrip().endswith(b"1 passed, 0 failed\x1b[0m")


def test_should_misses_warn_unless_strict(tmp_path: Path) -> None:
    js = tmp_path / "r.json"
    lenient = _check("--timeout", "2", "-k", "5.2", "--json", str(js), "--",
                     *_slave("missing_path.py"))
    assert lenient.returncode == 0
    assert "WARN 5.2" in lenient.stdout and "Actual:" in lenient.stdout
    assert "warning: 1 SHOULD-level case(s) did not hold: 5.2" in lenient.stdout
    assert lenient.stdout.splitlines()[-1] == "1 passed, 0 failed"
    assert json.loads(js.read_text(encoding="utf-8"))["cases"][0]["verdict"] == WARNING
    strict = _check("--strict", "--timeout", "2", "-k", "5.2", "--", *_slave("missing_path.py"))
    assert strict.returncode == 1
    assert strict.stdout.splitlines()[-1] == "0 passed, 1 failed"


def test_a_disabled_plan_identifier_skips_its_cases() -> None:
    done = _check("--id-lazy", "", "-k", "5.4,4.2", "--", *_slave("minimal_slave.py"))
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1] == "1 passed, 0 failed, 1 skipped"
    assert "SKIP 5.4" in done.stdout


def test_a_selection_matching_nothing_is_an_error() -> None:
    done = _check("-k", "no-such-case")
    assert done.returncode == 2
    assert "selects no case" in done.stderr
    assert "passed" not in done.stdout


def test_list_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    done = _check("--list", "--dialect", "zeus", "--", "sh", "-c", f"touch {marker}")
    assert done.returncode == 0
    assert not marker.exists()
    listed = re.findall(r"^  (\d+\.\d+) ", done.stdout, re.MULTILINE)
    assert listed == [c.id for c in catalogue.cases_for("zeus")]


def test_a_command_that_cannot_start_exits_2() -> None:
    done = _check("--", str(ROOT / "no-such-slave"))
    assert done.returncode == 2
    assert "cannot start" in done.stderr


def test_conformance_md_carries_the_generated_case_table() -> None:
    text = (ROOT / "spec" / "CONFORMANCE.md").read_text(encoding="utf-8")
    assert markdown_table() in text
    done = _check("--list", "--markdown")
    assert done.returncode == 0 and done.stdout == markdown_table()


# ---- the catalogue and the judge ---------------------------------------------------


def test_catalogue_ids_are_unique_numbered_by_section_and_cite_known_requirements() -> None:
    ids = [c.id for c in catalogue.CASES]
    assert len(ids) == len(set(ids))
    for case in catalogue.CASES:
        assert case.requirement in BY_ID
        assert case.dialects <= BY_ID[case.requirement].dialects | frozenset(DIALECTS)
        assert set(case.needs) <= {"ok", "fail", "lazy", "command"}
    by_section = sorted(ids, key=lambda i: tuple(int(n) for n in i.split(".")))
    assert ids == by_section


def test_a_case_leaves_no_process_and_no_fd_behind() -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    judge = Judge(_slave("minimal_slave.py"), get_dialect("zeus"), TIMEOUT)
    with judge:
        root = judge.start_root()
        judge.connected(root, "boot")
        (child,) = judge.spawn(root, "child_ok")
        judge.connected(child, "child_ok")
        pgid, child_pid = os.getpgid(root.pid or 0), child.pid
    assert group_members(pgid) == []
    assert child_pid is not None and not _alive(child_pid)
    assert set(os.listdir("/proc/self/fd")) == fds_before


ESCAPING_SLAVE = f"""
import os, sys
sys.path.insert(0, {str(BROKEN)!r})
from minimal_slave import Slave

class Escaping(Slave):
    def boot(self, identifier, parent_pid):
        if parent_pid:
            os.setsid()  # leaves the process group the checker kills
        super().boot(identifier, parent_pid)

Escaping().main()
"""


def test_a_child_that_leaves_the_process_group_is_refused_and_killed_too(
        tmp_path: Path) -> None:
    """The checker cites PID-2 as the master does (the machine's group guard)."""
    script = tmp_path / "escaping_slave.py"
    script.write_text(ESCAPING_SLAVE, encoding="utf-8")
    with Judge((sys.executable, str(script)), get_dialect("spec"), TIMEOUT) as judge:
        root = judge.start_root()
        judge.connected(root, "boot")
        (child,) = judge.spawn(root, "child_ok")
        with pytest.raises(CredentialsMismatch) as caught:
            judge.connected(child, "child_ok")
        assert caught.value.requirement == "PID-2"
        assert "not in the slaves' process group" in caught.value.reason
        pid = int(caught.value.reason.split("made by pid ")[1].split(",")[0])
        assert _alive(pid) and os.getpgid(pid) != os.getpgid(root.pid or 0)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting for its reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return False
    return stat.rsplit(b")", 1)[1].split()[0] not in (b"Z", b"X")


def test_a_skipped_case_does_not_start_a_slave() -> None:
    case = catalogue.BY_ID["5.4"]
    result = run_case(case, RunConfig(("/no/such/slave",), "spec", TIMEOUT,
                                      ids=PlanIds(lazy="")))
    assert result.verdict == SKIPPED and "--id-lazy" in (result.actual or "")


# ---- commands (zeus): the Expected line, the skip, the processes a case ends -------------

#: (slave, case) -> words the Expected: line must hold: the step that failed, not an
#: earlier one (before the fix, a failure after R could still say "sends R within 5 s").
EXPECTED_STEP = {
    ("runner_two_bytes.py", "9.1"): "answers C:zcheck with one fd",
    ("command_identifier.py", "9.4"): "the command sends P:<pid>:",
    ("status_always_zero.py", "9.10"): "exit status 3 for the command 'zcheck exit 3'",
    ("hangs_on_unknown_command.py", "9.15"): "ends and its runner sends the exit status",
}


@pytest.mark.parametrize("key", sorted(EXPECTED_STEP))
def test_expected_names_the_step_that_failed(matrix: Matrix, key: tuple[str, str]) -> None:
    slave, case = key
    (result,) = [r for r in matrix[(slave, "zeus")] if r.case.id == case]
    assert result.verdict == FAILED
    assert EXPECTED_STEP[key] in (result.expected or ""), result.expected
    assert "sends R within" not in (result.expected or "")


def test_an_empty_id_command_skips_the_command_cases() -> None:
    done = _check("--dialect", "zeus", "--id-command", "", "-k", "9.10,4.2", "--",
                  *_slave("minimal_slave.py"))
    assert done.returncode == 0, done.stdout
    assert "SKIP 9.10" in done.stdout and "--id-command" in done.stdout
    assert done.stdout.splitlines()[-1] == "1 passed, 0 failed, 1 skipped"


ESCAPING_COMMAND = f"""
import os, sys, time
sys.path.insert(0, {str(BROKEN)!r})
from minimal_slave import Slave

PIDS = os.environ["ZEUS_FSM_TEST_PIDS"]

def note(pid):
    with open(PIDS, "a") as out:
        out.write(f"{{pid}}\\n")

class Escaping(Slave):
    def command(self, name):
        super().command(name)
        if os.environ.get("ZEUS_FSM_TEST_ORPHAN"):  # the slave dies once all 3 are there
            end = time.monotonic() + 10
            while len(open(PIDS).read().split()) < 3 and time.monotonic() < end:
                time.sleep(0.01)
            os._exit(0)

    def run_command(self, sock, name, args, out_fd, err_fd):
        # The command leaves a daemon behind: a new session, its parent gone at once.
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                note(os.getpid())
                time.sleep(3600)
            os._exit(0)
        note(os.getpid())
        note(os.getppid())  # the runner: it called setsid too
        super().run_command(sock, name, args, out_fd, err_fd)

Escaping().main()
"""


def _escaping(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    script, pids_file = tmp_path / "escaping.py", tmp_path / "pids"
    script.write_text(ESCAPING_COMMAND, encoding="utf-8")
    pids_file.write_text("")
    monkeypatch.setenv("ZEUS_FSM_TEST_PIDS", str(pids_file))
    return script, pids_file


def test_every_process_of_a_case_is_ended_even_outside_its_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A runner (setsid), its command, and a daemon the command left (setsid, orphaned),
    the root killed mid-command: all are ended and counted."""
    script, pids_file = _escaping(tmp_path, monkeypatch)
    fds_before = set(os.listdir("/proc/self/fd"))
    with Judge((sys.executable, str(script)), get_dialect("zeus"), TIMEOUT) as judge:
        root = judge.start_root()
        judge.connected(root, "boot")
        run = judge.launch_command(root, "zcheck", [b"cat"], stdin=None)
        judge.command_started(run)
        deadline = time.monotonic() + TIMEOUT
        while len(pids_file.read_text().split()) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert root.pid is not None
        os.kill(root.pid, 9)  # the runner loses its parent
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 3
    assert judge.sweep is not None and judge.sweep.survivors == ()
    assert judge.sweep.ended >= 3 and judge.sweep.outside_group >= 3
    assert [pid for pid in pids if _alive(pid)] == []
    assert set(os.listdir("/proc/self/fd")) == fds_before


def test_the_checker_is_a_subreaper_orphans_come_back_to_it_and_are_reaped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The slave dies while its command runs: the runner and the command's daemon are
    orphans. `zeus-fsm check` (a child subreaper) gets them back, ends them and reaps them:
    when it exits, none of them is left, not even as a zombie for init to collect."""
    script, pids_file = _escaping(tmp_path, monkeypatch)
    monkeypatch.setenv("ZEUS_FSM_TEST_ORPHAN", "1")
    report = tmp_path / "r.json"
    done = _check("--dialect", "zeus", "--timeout", "2", "-k", "9.2", "--json", str(report),
                  "--", sys.executable, str(script))
    assert done.returncode == 1, done.stdout  # the slave died: 9.2 fails, as it should
    pids = [int(p) for p in pids_file.read_text().split()]
    assert len(pids) == 3
    assert [pid for pid in pids if Path(f"/proc/{pid}").exists()] == []
    (case,) = json.loads(report.read_text(encoding="utf-8"))["cases"]
    # The command and its runner ended on their own; the daemon was ended by the sweep.
    assert case["survivors"] == [] and case["processes_outside_group"] >= 1
    assert "survived" not in done.stdout


NAMES_A_STRANGER = f"""
import os, sys
sys.path.insert(0, {str(BROKEN)!r})
from minimal_slave import Slave

class NamesAStranger(Slave):
    def command_pid_message(self):
        return f"P:{{os.environ['ZEUS_FSM_TEST_VICTIM']}}:{{self.slave_pid}}:\\\\0".encode()

NamesAStranger().main()
"""


def test_a_pid_the_slave_only_names_is_never_killed(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The command's P names a process that is not the case's: 9.2 fails (CMD-5), and
    the sweep leaves that process alone."""
    script = tmp_path / "stranger.py"
    script.write_text(NAMES_A_STRANGER, encoding="utf-8")
    victim = subprocess.Popen(["sleep", "60"])
    try:
        monkeypatch.setenv("ZEUS_FSM_TEST_VICTIM", str(victim.pid))
        (result,) = run([catalogue.BY_ID["9.2"]],
                        RunConfig((sys.executable, str(script)), "zeus", TIMEOUT))
        assert result.verdict == FAILED and result.violated == "CMD-5", result.actual
        assert victim.poll() is None and _alive(victim.pid)
    finally:
        victim.kill()
        victim.wait(TIMEOUT)


UNASKED_RUNNER_SOCKET = f"""
import socket, sys
sys.path.insert(0, {str(BROKEN)!r})
from minimal_slave import Slave

class Unasked(Slave):
    def send_result(self, error):
        super().send_result(error)  # R:OK, then a datagram socket nobody asked for
        _, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        socket.send_fds(self.local, [b"\\\\0"], [theirs.fileno()])

Unasked().main()
"""


def test_a_rule_broken_after_r_is_reported_with_the_step_it_broke(tmp_path: Path) -> None:
    """The report of the issue: after R, an fd on the stream said 'a second pipe' under
    'Expected: the root slave sends R within 5 s of P'. A socket that no C asked for is
    CMD-2, expected of a connected slave."""
    script = tmp_path / "unasked.py"
    script.write_text(UNASKED_RUNNER_SOCKET, encoding="utf-8")
    (result,) = run([catalogue.BY_ID["4.1"]],
                    RunConfig((sys.executable, str(script)), "zeus", TIMEOUT))
    assert (result.verdict, result.violated) == (FAILED, "CMD-2"), result.actual
    assert "a runner socket that no C asked for" in (result.actual or "")
    assert result.expected is not None and "connected, sends nothing" in result.expected


MASTER_BACK_SLAVE = f"""
import os, socket, sys
sys.path.insert(0, {str(BROKEN)!r})
from minimal_slave import Slave

class SendsMasterBack(Slave):
    def serve(self):
        if self.identifier_served is None:  # the root, once connected: a stray registration
            self.identifier_served = "boot"
            socket.send_fds(self.master, [b"\\0"], [self.master.fileno()])
        super().serve()

    identifier_served = None

SendsMasterBack().main()
"""


def test_a_stray_whose_socket_the_checker_made_is_never_killed(tmp_path: Path) -> None:
    """The master socket sent back as an extra registration names the checker (it made the
    socketpair): the checker once kept that pid to SIGKILL at close, i.e. itself."""
    script = tmp_path / "master_back.py"
    script.write_text(MASTER_BACK_SLAVE, encoding="utf-8")
    with Judge((sys.executable, str(script)), get_dialect("spec"), TIMEOUT) as judge:
        root = judge.start_root()
        judge.connected(root, "boot")
        judge.settle()
        assert [f"from pid {os.getpid()}," in r for r in judge.extra_registrations] == [True]
    # Still alive to get here; and the slave's group was killed as usual.
    assert root.pid is not None and not _alive(root.pid)
