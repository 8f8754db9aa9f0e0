"""Hostile standard input for a fence agent (issue 11.6): NUL bytes, floods of unknown
names, huge or non-UTF-8 input. One warning of each kind, capped echoes, nothing fenced."""

from __future__ import annotations

import io
import os

import pytest
from fence_toy import FakeClock, Switch, ToyFence, fence
from havirt.ocf import fencing
from havirt.ocf.fencing import EXIT_ERROR, EXIT_OK


@pytest.fixture
def toy() -> ToyFence:
    return ToyFence(Switch())


def _connected(toy: ToyFence) -> bool:
    return any(c[0] == "connect" for c in toy.switch.calls)


def test_many_unknown_names_give_one_warning_with_a_count(toy) -> None:
    junk = "".join(f"key{i}=v\n" for i in range(5000))
    out = fence(toy, stdin="action=status\nplug=vm1\n" + junk + "stray line\n" * 3)
    assert out.rc == EXIT_OK
    warnings = [line for line in out.stderr.splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 2, warnings
    assert "'key0', 'key1', 'key2' and 4997 more" in warnings[1]
    assert "lines 5003, 5004, 5005 of standard input" in warnings[0]


def test_nul_bytes_are_refused_and_never_echoed(toy) -> None:
    out = fence(toy, stdin="action=off\nplug=vm\x001\n")
    assert out.rc == EXIT_ERROR and "\x00" not in out.stderr
    assert "option plug: 'vm?1' contains control characters" in out.stderr
    assert not _connected(toy)
    out = fence(toy, stdin="action=status\nplug=vm1\nna\x00me=1\n")
    assert "\x00" not in out.stderr


def test_huge_standard_input_is_refused_unread(toy) -> None:
    out = fence(toy, stdin="action=off\nplug=vm1\n" + "x=" + "y" * (fencing.STDIN_LIMIT + 10))
    assert out.rc == EXIT_ERROR and "larger than" in out.stderr
    assert len(out.stderr) < 300 and not _connected(toy)


def test_non_utf8_standard_input_is_an_error(toy) -> None:
    err = io.StringIO()
    stdin = io.TextIOWrapper(io.BytesIO(b"action=off\nplug=\xff\xfe\n"), encoding="utf-8")
    rc = fencing.run(
        toy, ["fence_toy"], stdin=stdin, stdout=io.StringIO(), stderr=err, host=FakeClock()
    )
    assert rc == EXIT_ERROR and "not UTF-8" in err.getvalue()
    assert not _connected(toy)


@pytest.mark.parametrize(
    ("stdin", "words"),
    [
        ("action=off\nplug=vm1\ndelay=" + "9" * 30 + "\n", "more than 86400 seconds"),
        ("action=status\nplug=vm1\nretries=" + "9" * 30 + "\n", "whole number"),
        ("action=status\nplug=vm1\nverbose=" + "y" * 10_000 + "\n", "..."),
    ],
)
def test_out_of_range_values_are_refused_with_a_capped_echo(toy, stdin, words) -> None:
    out = fence(toy, stdin=stdin)
    assert out.rc == EXIT_ERROR and words in out.stderr
    assert len(out.stderr) < 400 and not _connected(toy)


def test_a_password_file_that_is_a_fifo_does_not_hang(toy, tmp_path) -> None:
    fifo = tmp_path / "pw"
    os.mkfifo(fifo)  # a device: tests/integration/test_bad_input_on_the_host.py
    for path, words in ((fifo, "is a FIFO"),):
        out = fence(toy, stdin=f"action=status\nplug=vm1\npassword_file={path}\n")
        assert out.rc == EXIT_ERROR and words in out.stderr
        assert not _connected(toy)


def test_a_hundred_thousand_unknown_names_give_one_warning(toy) -> None:
    junk = "".join(f"k{i}=v\n" for i in range(100_000))
    out = fence(toy, stdin="action=status\nplug=vm1\n" + junk)
    assert out.rc == EXIT_OK
    assert out.stderr.count("WARNING:") == 1 and "and 99997 more" in out.stderr
