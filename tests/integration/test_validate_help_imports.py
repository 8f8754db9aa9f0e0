"""havirt's --help in a fresh interpreter: it must not import the SSH and XML libraries.
A real process, so not a unit test.
"""

from __future__ import annotations

import subprocess
import sys


def test_help_does_not_import_ssh_or_xml_libraries() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from havirt.tools.cli.main import main\n"
        "CliRunner().invoke(main, ['--help'])\n"
        "CliRunner().invoke(main, ['validate', '--help'])\n"
        "print(sorted(m for m in ('fabric', 'paramiko', 'lxml', 'invoke') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
