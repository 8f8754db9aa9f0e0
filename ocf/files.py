"""Reading a node-local file an agent is configured with, each failure as its OCF code.

A missing file is ERR_INSTALLED (not on this node: another node may have it),
a directory or undecodable text is ERR_CONFIGURED, an unreadable one ERR_PERM.
"""

from __future__ import annotations

from .errors import OcfError
from .exitcodes import OcfExit


def read_text(path: str, what: str) -> str:
    """The UTF-8 text of ``path``; ``what`` names it in messages ("config file ...")."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        raise OcfError(
            OcfExit.ERR_INSTALLED,
            f"{what} {path} does not exist on this node: copy it here or put it on shared storage",
        ) from None
    except IsADirectoryError:
        raise OcfError(
            OcfExit.ERR_CONFIGURED, f"{what} {path} is a directory, not a file"
        ) from None
    except OSError as exc:
        raise OcfError(OcfExit.ERR_PERM, f"cannot read {what} {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise OcfError(
            OcfExit.ERR_CONFIGURED,
            f"{what} {path} is not UTF-8 text (byte {exc.start}): fix the file",
        ) from None
