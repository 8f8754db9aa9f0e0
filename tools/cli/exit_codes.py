"""Exit codes of the havirt commands: the command layer picks them from the type of the
library's error (the library never does), and prints the error as one message.

=====  =====================================================================
0      done
1      failed (or, for reports, something was found: see each command's help)
2      refused or wrong usage: nothing was changed (``BadRequest``, ``Refused``,
       and click's own usage errors)
3      ``apply``: the live cluster changed since it was compared (``Conflict``)
=====  =====================================================================

``havirt domain|node list`` (records) keep their own codes; see ``records_cli``.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import click
from havirt.tools.errors import BadRequest, Conflict, HavirtError, Refused

OK, FAILED, REFUSED, CHANGED_MEANWHILE = 0, 1, 2, 3


def exit_code_for(exc: HavirtError) -> int:
    if isinstance(exc, (BadRequest, Refused)):
        return REFUSED
    if isinstance(exc, Conflict):
        return CHANGED_MEANWHILE
    return FAILED


def fail(exc: HavirtError, code: int | None = None) -> NoReturn:
    """Print ``exc`` to stderr as havirt's one error message and exit with ``code``
    (by default the code for its type)."""
    click.echo(f"havirt: error: {exc}", err=True)
    sys.exit(exit_code_for(exc) if code is None else code)
