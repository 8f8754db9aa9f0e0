"""Probing SSH trust from one node: ``virsh -c qemu+ssh://PEER/system hostname`` to
every other node, a few at a time, and ``ssh -o BatchMode=yes PEER true`` when it
fails, to tell an SSH problem from a libvirt one; then reading the answers."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from havirt.ocf.runner import CommandResult
from havirt.tools.validate.facts import Trust, last_line
from havirt.tools.validate.framing import parse_sections, preamble
from havirt.tools.validate.targets import Target

TRUST_PARALLEL = 4  # probes at once from one node: stays under sshd's MaxStartups (10)


def trust_peers(everyone: Sequence[Target], node: str) -> list[Target]:
    """The nodes other than ``node``, starting after it: at any moment each node is
    probed by about one other, not by all of them at once."""
    index = next(i for i, t in enumerate(everyone) if t.name == node)
    return [everyone[(index + k) % len(everyone)] for k in range(1, len(everyone))]


def trust_timeout(peers: Sequence[Target], timeout: float) -> float:
    """How long the whole probe may take: each wave of probes, each probe twice bounded."""
    waves = -(-len(peers) // TRUST_PARALLEL)
    return (timeout * 2 + 10) * waves


def peer_destination(peer: Target, migration_user: str | None) -> str:
    return f"{migration_user}@{peer.name}" if migration_user else peer.name


def peer_uri(peer: Target, migration_user: str | None) -> str:
    # no_tty=1: ssh in batch mode, as when Pacemaker migrates (no one to type a password).
    return f"qemu+ssh://{peer_destination(peer, migration_user)}/system?no_tty=1"


def trust_script(
    boundary: str, peers: Sequence[Target], migration_user: str | None, timeout: float
) -> str:
    """Probe every peer (a few at a time), then print the results framed like sections."""
    t = max(1, round(timeout))
    lines = [
        *preamble(boundary),
        "d=$(mktemp -d) || exit 97",
        "trap 'rm -rf \"$d\"' EXIT",
        "j() {",
        f'  timeout -k 2 {t} virsh -c "$2" hostname >"$d/v$1.out" 2>"$d/v$1.err"',
        '  r=$?; echo "$r" >"$d/v$1.rc"',
        '  if [ "$r" -ne 0 ]; then',
        f'    timeout -k 2 {t} ssh -o BatchMode=yes -o ConnectTimeout={t} -- "$3" true'
        ' </dev/null >"$d/s$1.out" 2>"$d/s$1.err"',
        '    echo "$?" >"$d/s$1.rc"',
        "  fi",
        "}",
        # p KEY FILE-STEM: the framed result of one probe (stdout, exit code, stderr)
        "p() {",
        '  printf \'%s out %s\\n\' "$b" "$1"; cat "$d/$2.out" 2>/dev/null',
        '  r=$(cat "$d/$2.rc" 2>/dev/null || echo 125)',
        '  printf \'\\n%s end %s %s\\n\' "$b" "$1" "$r"',
        '  cat "$d/$2.err" 2>/dev/null',
        "}",
    ]
    for start in range(0, len(peers), TRUST_PARALLEL):
        wave = []
        for i in range(start, min(start + TRUST_PARALLEL, len(peers))):
            peer = peers[i]
            uri = shlex.quote(peer_uri(peer, migration_user))
            dest = shlex.quote(peer_destination(peer, migration_user))
            wave.append(f"j {i} {uri} {dest} &")
        lines.append(" ".join(wave) + " wait")
    for i in range(len(peers)):
        lines.append(f"p v{i} v{i}")
        lines.append(f'[ -f "$d/s{i}.rc" ] && p s{i} s{i}')
    lines.append("exit 0")
    return "\n".join(lines) + "\n"


def parse_trust(boundary: str, peers: Sequence[Target], result: CommandResult) -> dict[str, Trust]:
    """What the output of :func:`trust_script` says of each peer."""
    found = parse_sections(boundary, result.stdout)
    trust = {}
    for i, peer in enumerate(peers):
        section = found.get(f"v{i}")
        if section is None:
            trust[peer.name] = Trust(peer.name, False, libvirt_error=result.describe())
            continue
        if section.ok:
            answered = section.stdout.strip() or None
            trust[peer.name] = Trust(peer.name, True, answered=answered)
            continue
        ssh = found.get(f"s{i}")
        trust[peer.name] = Trust(
            peer.name,
            False,
            libvirt_error=section.error(),
            ssh_ok=ssh.ok if ssh else None,
            ssh_error=(last_line(ssh.stderr) or ssh.error()) if ssh and not ssh.ok else None,
        )
    return trust
