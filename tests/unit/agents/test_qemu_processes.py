from __future__ import annotations

import os
from pathlib import Path

import pytest
from havirt.agents.guest.qemu_processes import QemuProcess, find, parse_cmdline

UUID = "6F1B8C2E-52A4-4D3E-9A0B-0123456789AB"

# -- parse_cmdline


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["/usr/bin/qemu-system-x86_64", "-name", "guest=vm1,debug-threads=on", "-m", "1024"],
            ("vm1", None),
        ),
        (["qemu-system-x86_64", "-name", "vm1"], ("vm1", None)),
        (["/usr/libexec/qemu-kvm", "-name", "guest=vm1"], ("vm1", None)),
        (["/usr/bin/kvm", "-name", "vm1", "-enable-kvm"], ("vm1", None)),
        (["kvm", "-name", "guest=vm1"], ("vm1", None)),
        # ",," escapes a comma inside the name
        (["qemu-system-x86_64", "-name", "guest=a,,b,debug-threads=on"], ("a,b", None)),
        (["qemu-system-x86_64", "-name", "a,,b,,c"], ("a,b,c", None)),
        # old syntax with a process name: the first field is the guest name
        (["qemu-system-x86_64", "-name", "vm1,process=qemu:vm1"], ("vm1", None)),
        (["qemu-system-x86_64", "-uuid", UUID], (None, UUID.lower())),
        (
            ["qemu-system-aarch64", "-uuid", UUID, "-name", "guest=vm1,debug-threads=on"],
            ("vm1", UUID.lower()),
        ),
        (["qemu-system-x86_64", "-m", "512"], (None, None)),
        # "-name" as the last word has no value
        (["qemu-system-x86_64", "-name"], (None, None)),
    ],
)
def test_parse_cmdline_of_qemu(argv, expected):
    assert parse_cmdline(argv) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["/usr/bin/python3", "-name", "vm1"],
        ["bash", "-c", "qemu-system-x86_64 -name vm1"],
        ["/usr/sbin/libvirtd", "--timeout", "120"],
        ["/usr/bin/mykvm", "-name", "vm1"],
        ["sleep", "100"],
    ],
)
def test_parse_cmdline_of_other_programs_is_none(argv):
    assert parse_cmdline(argv) is None


# -- find() on a fake /proc


class FakeProc:
    def __init__(self, root: Path, netns: str | None = "net:[4026531840]") -> None:
        self.root = root
        root.mkdir(exist_ok=True)
        if netns is not None:
            (root / "self" / "ns").mkdir(parents=True)
            os.symlink(netns, root / "self" / "ns" / "net")

    def add(self, pid: int | str, argv: list[str], netns: str | None = "net:[4026531840]") -> None:
        base = self.root / str(pid)
        base.mkdir()
        (base / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in argv))
        if netns is not None:
            (base / "ns").mkdir()
            os.symlink(netns, base / "ns" / "net")


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path / "proc")


def qemu(name: str, uuid: str | None = None) -> list[str]:
    argv = ["/usr/bin/qemu-system-x86_64", "-name", f"guest={name},debug-threads=on"]
    if uuid:
        argv += ["-uuid", uuid]
    return [*argv, "-machine", "pc-q35-8.2"]


def test_find_by_name(proc):
    proc.add(100, qemu("vm1"))
    proc.add(101, qemu("vm2"))
    assert find("vm1", proc=str(proc.root)) == [QemuProcess(100, "vm1", None)]


def test_find_by_uuid_case_insensitively(proc):
    proc.add(100, qemu("renamed", UUID))
    assert find("vm1", UUID.lower(), proc=str(proc.root)) == [
        QemuProcess(100, "renamed", UUID.lower())
    ]
    assert [p.pid for p in find(None, UUID, proc=str(proc.root))] == [100]


def test_find_without_any_match(proc):
    proc.add(100, qemu("vm2"))
    assert find("vm1", proc=str(proc.root)) == []
    assert find(None, None, proc=str(proc.root)) == []


def test_find_skips_zombies_kernel_threads_and_other_entries(proc):
    proc.add(200, [])  # zombie or kernel thread: empty cmdline
    proc.add(201, ["/usr/bin/python3", "-name", "vm1"])
    (proc.root / "self" / "cmdline").write_bytes(b"qemu-system-x86_64\0-name\0vm1\0")
    (proc.root / "sys").mkdir()
    (proc.root / "uptime").write_text("1.0 1.0\n")
    (proc.root / "300").mkdir()  # vanished before its cmdline could be read
    proc.add(400, qemu("vm1"))
    assert [p.pid for p in find("vm1", proc=str(proc.root))] == [400]


def test_find_ignores_processes_of_other_network_namespaces(proc):
    proc.add(100, qemu("vm1"), netns="net:[4026532999]")  # a simulated other host
    proc.add(101, qemu("vm1"))
    assert [p.pid for p in find("vm1", proc=str(proc.root))] == [101]


def test_find_counts_a_process_whose_namespace_cannot_be_read(proc):
    proc.add(100, qemu("vm1"), netns=None)
    assert [p.pid for p in find("vm1", proc=str(proc.root))] == [100]


def test_find_counts_every_process_when_the_own_namespace_is_unknown(tmp_path):
    proc = FakeProc(tmp_path / "proc", netns=None)
    proc.add(100, qemu("vm1"), netns="net:[1]")
    proc.add(101, qemu("vm1"), netns="net:[2]")
    assert sorted(p.pid for p in find("vm1", proc=str(proc.root))) == [100, 101]
