"""havirt lab vagrant-host authorize: a key file that is not one is refused in one line
(exit 2), before anything of the outer host is looked at; a FIFO does not hang it."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from havirt.tools.cli.main import main


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("just words\n"), "is not an OpenSSH public key"),
        (lambda p: p.write_text("ssh-ed25519\n"), "is not an OpenSSH public key"),
        (lambda p: None, "does not exist"),
        (lambda p: os.mkfifo(p), "not a regular file"),
    ],
    ids=["words", "no-key-data", "missing", "fifo"],
)
def test_a_file_that_is_no_public_key_is_refused(
    tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    key = tmp_path / "key.pub"
    make(key)
    result = CliRunner().invoke(main, ["lab", "vagrant-host", "authorize", str(key)])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr
