"""Many commands' results over one SSH channel: the shell scripts that frame each
command's output between lines carrying a random boundary, and the parsing of
what comes back (stdout, exit code and stderr of each).

A script runs its snippets one after another (:func:`sections_script`); libvirt
is asked in ``virsh`` batch mode, one process for many commands, each answer after
an ``echo``'d marker (:func:`virsh_batch`, read back by :func:`split_marked`).
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Protocol

from havirt.ocf.runner import CommandResult

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Session(Protocol):
    """Where the scripts run: the SSH adapter, or a fake in tests."""

    def run(self, command: str, timeout: float) -> CommandResult: ...


@dataclass
class Section:
    stdout: str
    rc: int
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0

    def error(self) -> str:
        """The command's own message (its error lines, else its last line)."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith("error")]
        if self.rc == 124:
            return "timed out"
        text = "; ".join(errors[:2] or lines[-2:]) or f"exit code {self.rc}"
        return text.replace("error: ", "")


def answer(section: Section | None, codes: Collection[int] = (0,)) -> Section:
    """The section, if its command answered with one of these exit codes; else ValueError
    saying why (the command's own message, or that no answer came)."""
    if section is None:
        raise ValueError("no answer")
    if section.rc not in codes:
        raise ValueError(section.error())
    return section


def preamble(boundary: str) -> list[str]:
    """The first lines of every framed script: a known PATH and locale, and ``$b``, the
    boundary."""
    return [
        f"PATH=$PATH:{PATH}; export PATH; LC_ALL=C; export LC_ALL; unset LANGUAGE",
        f"b={shlex.quote(boundary)}",
    ]


def new_boundary() -> str:
    return f"@@havirt-{secrets.token_hex(8)}"


def bounded(command: str, timeout: float) -> str:
    """``command`` (shell text) killed after ``timeout`` seconds (exit code 124)."""
    return f"timeout -k 2 {max(1, round(timeout))} {command}"


def sections_script(boundary: str, sections: Sequence[tuple[str, str]]) -> str:
    """A POSIX sh script running each (key, shell snippet), output framed by ``boundary``.

    Snippets run in a subshell of the script (no process of their own); one that can
    hang (virsh on a hung libvirtd, a resolver) must be :func:`bounded`.
    """
    lines = [
        *preamble(boundary),
        # stdout goes straight out (fd 3), stderr is kept to be printed after the end line.
        's() { printf \'%s out %s\\n\' "$b" "$1"; '
        '{ e=$(eval "$2" 2>&1 1>&3 3>&-); r=$?; } 3>&1; '
        'printf \'\\n%s end %s %s\\n\' "$b" "$1" "$r"; printf \'%s\\n\' "$e"; }',
    ]
    lines += [f"s {shlex.quote(key)} {shlex.quote(snippet)}" for key, snippet in sections]
    return "\n".join(lines) + "\n"


def parse_sections(boundary: str, text: str) -> dict[str, Section]:
    """The framed output of :func:`sections_script` (or of the trust script)."""
    found: dict[str, Section] = {}
    key: str | None = None
    part = "none"
    out: list[str] = []
    err: list[str] = []
    rc = -1

    def close() -> None:
        if key is not None:
            found[key] = Section("\n".join(out).removesuffix("\n"), rc, "\n".join(err).strip())

    for line in text.split("\n"):
        if line.startswith(boundary + " "):
            fields = line[len(boundary) + 1 :].split(" ")
            if fields[0] == "out" and len(fields) == 2:
                close()
                key, part, out, err, rc = fields[1], "out", [], [], -1
                continue
            if fields[0] == "end" and len(fields) == 3 and fields[1] == key:
                rc = int(fields[2]) if fields[2].lstrip("-").isdigit() else -1
                part = "err"
                continue
        if part == "out":
            out.append(line)
        elif part == "err":
            err.append(line)
    close()
    return found


def virsh_word(text: str) -> str:
    """``text`` as one word of virsh's own command parser (backslash before specials)."""
    return "".join(c if c.isalnum() or c in "-_.:/@+" else "\\" + c for c in text)


def virsh_batch(boundary: str, commands: Sequence[tuple[str, str]]) -> str:
    """One virsh command line running ``commands``, each answer after an echo'd marker."""
    parts = []
    for key, command in commands:
        parts.append(f"echo {boundary}:{key}")
        parts.append(command)
    return "; ".join(parts)


def split_marked(boundary: str, text: str) -> dict[str, str]:
    """Answers each printed after a ``BOUNDARY:KEY`` line (see :func:`virsh_batch`), by key.

    A key is missing if its marker never came.

    A marker is found anywhere, not only at the start of a line: an answer
    without a final newline runs into the next marker.
    """
    answers: dict[str, str] = {}
    for part in text.split(boundary + ":")[1:]:
        key, _, body = part.partition("\n")
        answers[key.strip()] = body.strip("\n")
    return answers


def sh_command(script: str) -> str:
    """Run ``script`` with sh whatever the login shell is."""
    return "sh -c " + shlex.quote(script)
