"""The VM lab's auditor eyes: the remote /proc dumper and the outer host's scanner.

Hermetic: the dumper reads a /proc tree made here, the scanner gets its lines, its
clock and the hosts' power from the test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from havirt.tools.lab import proc_dump
from havirt.tools.lab.auditor import Auditor, QemuCopy
from havirt.tools.lab.remote_audit import RemoteScanner, parse_line

QEMU = ["/usr/bin/qemu-system-x86_64", "-name", "guest=vm1,debug-threads=on", "-uuid", "u1"]


def _proc(root: Path, pid: int, comm: str, argv: list[str], start_ticks: int) -> None:
    d = root / str(pid)
    d.mkdir(parents=True)
    # pid (comm) state ppid ... field 22 is starttime: 19 fields after "(comm) "
    fields = ["S"] + ["0"] * 18 + [str(start_ticks)] + ["0"] * 10
    (d / "stat").write_text(f"{pid} ({comm}) " + " ".join(fields) + "\n")
    (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")


def test_the_dumper_reports_qemu_processes_with_their_start_in_epoch_ms(tmp_path: Path) -> None:
    (tmp_path / "stat").write_text("cpu 1 2 3\nbtime 1700000000\n")
    _proc(tmp_path, 42, "qemu-system-x86", QEMU, start_ticks=250)
    _proc(tmp_path, 43, "bash", ["bash"], start_ticks=1)
    _proc(tmp_path, 44, "qemu-system-x86", [], start_ticks=1)  # a zombie: no cmdline
    (tmp_path / "self").mkdir()
    booted = proc_dump.boot_time(str(tmp_path))
    line = proc_dump.sample_line(str(tmp_path), booted, 100, "boot-a", 1700000010.0)
    data = json.loads(line)
    assert data == {"boot": "boot-a", "at": 1700000010.0, "procs": [[42, 1700000002500, QEMU]]}


def test_a_comm_with_spaces_and_parentheses_does_not_shift_the_fields(tmp_path: Path) -> None:
    _proc(tmp_path, 7, "qemu (odd) x", QEMU, start_ticks=100)
    assert proc_dump.qemu_procs(str(tmp_path), 0.0, 100) == [[7, 1000, QEMU]]


def test_a_qemu_command_line_is_read_once_and_forgotten_when_the_process_goes(
    tmp_path: Path,
) -> None:
    _proc(tmp_path, 7, "qemu-system-x86", QEMU, start_ticks=100)
    _proc(tmp_path, 8, "bash", ["bash"], start_ticks=1)
    known: dict[tuple[int, int], list[str]] = {}
    assert proc_dump.qemu_procs(str(tmp_path), 0.0, 100, known) == [[7, 1000, QEMU]]
    assert known == {(7, 100): QEMU}
    (tmp_path / "7" / "cmdline").write_bytes(b"changed\0")  # not read again
    assert proc_dump.qemu_procs(str(tmp_path), 0.0, 100, known) == [[7, 1000, QEMU]]
    (tmp_path / "7" / "stat").unlink()  # gone
    assert proc_dump.qemu_procs(str(tmp_path), 0.0, 100, known) == []
    assert known == {}


def test_a_process_that_becomes_qemu_is_seen_by_its_next_sample(tmp_path: Path) -> None:
    _proc(tmp_path, 9, "rpc-libvirtd", ["/usr/sbin/libvirtd"], start_ticks=5)
    known: dict[tuple[int, int], list[str]] = {}
    assert proc_dump.qemu_procs(str(tmp_path), 0.0, 100, known) == []
    stat = (tmp_path / "9" / "stat").read_text().replace("(rpc-libvirtd)", "(qemu-system-x86)")
    (tmp_path / "9" / "stat").write_text(stat)  # exec'd QEMU: same pid, same start
    (tmp_path / "9" / "cmdline").write_bytes(b"\0".join(a.encode() for a in QEMU) + b"\0")
    assert proc_dump.qemu_procs(str(tmp_path), 0.0, 100, known) == [[9, 50, QEMU]]


def test_a_line_becomes_copies_by_guest_and_other_lines_are_ignored() -> None:
    line = json.dumps({"boot": "b", "at": 1, "procs": [[42, 5, QEMU], [43, 6, ["bash"]]]})
    picture = parse_line("hv1", line, 10.0)
    assert picture is not None
    assert picture.copies == {"vm1": [QemuCopy("hv1", 42, 5, False)]}
    assert parse_line("hv1", "Welcome to Debian\n", 10.0) is None
    assert parse_line("hv1", '{"boot": "b"}', 10.0) is None


class Hosts:
    """The scanner's world: a clock and each host's power (its domain ID, None: off)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.power: dict[str, str | None] = {"hv1": "1", "hv2": "2"}
        self.asked: list[str] = []

    def power_id(self, node: str) -> str | None:
        self.asked.append(node)
        return self.power[node]

    def scanner(self) -> RemoteScanner:
        def never(node: str, args: list[str]) -> list[str]:
            raise AssertionError("no stream in a unit test")

        return RemoteScanner(["hv1", "hv2"], never, self.power_id, clock=lambda: self.now)


def _line(*procs: tuple[int, int, list[str]]) -> str:
    return json.dumps({"boot": "b", "at": 0, "procs": [list(p) for p in procs]})


def test_fresh_pictures_are_merged_without_asking_the_outer_host() -> None:
    hosts = Hosts()
    scanner = hosts.scanner()
    assert scanner.receive("hv1", _line((42, 5, QEMU)), "1")
    assert scanner.receive("hv2", _line(), "2")
    assert scanner.scan() == {"vm1": [QemuCopy("hv1", 42, 5, False)]}
    assert hosts.asked == []


def test_a_silent_host_that_is_still_on_keeps_its_last_picture() -> None:
    hosts = Hosts()
    scanner = hosts.scanner()
    scanner.receive("hv1", _line((42, 5, QEMU)), "1")
    scanner.receive("hv2", _line(), "2")
    hosts.now += 10  # both silent now; hv1 is on, the same power-on
    assert scanner.scan() == {"vm1": [QemuCopy("hv1", 42, 5, False)]}
    assert scanner.blind["hv1"] == pytest.approx(10)


@pytest.mark.parametrize("power", [None, "9"], ids=["off", "powered on again"])
def test_a_silent_host_that_lost_power_runs_none_of_its_copies(power: str | None) -> None:
    hosts = Hosts()
    scanner = hosts.scanner()
    scanner.receive("hv1", _line((42, 5, QEMU)), "1")
    hosts.now += 10
    hosts.power["hv1"] = power
    assert scanner.scan() == {}
    assert "hv1" not in scanner.blind


def test_a_second_copy_on_a_blind_host_still_counts_as_a_double_start() -> None:
    hosts = Hosts()
    scanner = hosts.scanner()
    scanner.receive("hv1", _line((42, 5, QEMU)), "1")
    hosts.now += 10  # hv1 silent, still on: its copy may still run
    scanner.receive("hv2", _line((77, 9, QEMU)), "2")
    auditor = Auditor(None, ["vm1"], scanner=scanner.scan, clock=lambda: hosts.now)
    auditor.sample()
    assert auditor.violations and "started again while it runs" in auditor.violations[0]


def test_an_auditor_needs_a_lab_or_a_scanner() -> None:
    with pytest.raises(ValueError):
        Auditor(None, ["vm1"])


def test_a_host_never_seen_yet_has_no_blind_time() -> None:
    hosts = Hosts()
    scanner = hosts.scanner()
    scanner.receive("hv2", _line(), "2")
    hosts.now += 10  # hv1 is on and has said nothing yet
    assert scanner.scan() == {}
    assert "hv1" not in scanner.blind
