"""Reading the LUNs a node sees through its iSCSI storage pools (``iscsi-direct`` and
``iscsi``), in one round trip: per active pool, optionally ``virsh pool-refresh``
(what makes libvirt look at the target again), then each volume's XML
(``virsh vol-dumpxml``: name ``unit:B:T:LUN``, key, capacity) and, where libiscsi's
``iscsi-inq`` is installed and the pool names its initiator IQN, the LUN's unit serial
number (VPD page 0x80), read with that initiator name (the target's ACL admits it).
LUN 0 is the target's controller and is left out.

Shared by the probe of ``havirt validate`` and by ``havirt node rescan``; the session is
the seam (``run(command, timeout) -> CommandResult``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence

from havirt.tools.validate import facts as F
from havirt.tools.validate.framing import (
    Section,
    Session,
    bounded,
    new_boundary,
    parse_sections,
    sections_script,
    sh_command,
)

URI = "qemu:///system"
MAX_LUNS = 256  # volumes read per pool: the answer stays bounded


def iscsi_pools(pools: Mapping[str, F.Pool]) -> list[F.Pool]:
    """The active iSCSI pools among ``pools``, by name."""
    return [p for _, p in sorted(pools.items()) if p.type in F.ISCSI_POOL_TYPES and p.active]


def lun_snippet(pool: F.Pool, timeout: float, refresh: bool) -> str:
    """Shell text printing each volume of ``pool`` after a ``$b vol NAME`` line, and its
    serial after a ``$b serial`` line (``$b``: the script's boundary)."""
    virsh = f"virsh -c {URI}"
    name = shlex.quote(pool.name)
    lines = []
    if refresh:
        lines.append(f"{bounded(f'{virsh} pool-refresh {name}', timeout)} >/dev/null || exit")
    lines += [
        # virsh 9.0's vol-list has no --name: the first column (no header with -q)
        f"v=$({bounded(f'{virsh} -q vol-list {name}', timeout)}) || exit",
        f'for n in $(printf "%s\\n" "$v" | awk \'{{print $1}}\' | head -n {MAX_LUNS + 1}); do',
        '  printf "%s vol %s\\n" "$b" "$n"',
        "  " + bounded(f'{virsh} vol-dumpxml --pool {name} "$n"', timeout),
    ]
    portal, target = F.iscsi_portal(pool), F.iscsi_target(pool)
    if pool.initiator and portal and target:
        url = shlex.quote(f"iscsi://{portal}/{target}/")
        inq = f"iscsi-inq -i {shlex.quote(pool.initiator)} -e 1 -c 128 {url}" + '"${n##*:}"'
        lines += [
            '  if [ "${n##*:}" != 0 ] && command -v iscsi-inq >/dev/null; then',
            '    printf "%s serial\\n" "$b"',
            f"    {bounded(inq, timeout)} 2>/dev/null",
            "  fi",
        ]
    lines += ["done", "true"]
    return "\n".join(lines)


def parse_luns(boundary: str, text: str) -> dict[int, F.Lun]:
    """The data LUNs from the output of :func:`lun_snippet`; ValueError if a volume's
    XML is unreadable."""
    volumes: list[tuple[str, list[str], list[str]]] = []  # name, XML lines, serial lines
    into: list[str] | None = None  # where the current line goes
    for line in text.split("\n"):
        if line.startswith(boundary + " vol "):
            volumes.append((line[len(boundary) + 5 :], [], []))
            into = volumes[-1][1]
        elif line == boundary + " serial" and volumes:
            into = volumes[-1][2]
        elif into is not None:
            into.append(line)
    luns: dict[int, F.Lun] = {}
    for name, xml_lines, serial_lines in volumes[:MAX_LUNS]:
        if F.lun_number(name) in (None, 0):
            continue
        try:
            lun = F.parse_lun_volume("\n".join(xml_lines), "\n".join(serial_lines) or None)
        except ValueError as exc:
            raise ValueError(f"volume {name}: {exc}") from None
        if lun is not None:
            luns[lun.number] = lun
    return luns


LunsOrError = dict[int, F.Lun] | str


def read_luns(
    session: Session, pools: Sequence[F.Pool], timeout: float, refresh: bool = False
) -> dict[str, LunsOrError]:
    """Each pool's data LUNs, or why they could not be read (refreshed first with
    ``refresh``); one round trip."""
    if not pools:
        return {}
    boundary = new_boundary()
    keys = {f"pool{i}": pool for i, pool in enumerate(pools)}
    script = sections_script(
        boundary, [(key, lun_snippet(pool, timeout, refresh)) for key, pool in keys.items()]
    )
    budget = (timeout * 3 + 10) * len(pools)
    result = session.run(sh_command(script), timeout=budget)
    found = parse_sections(boundary, result.stdout)
    answers: dict[str, LunsOrError] = {}
    for key, pool in keys.items():
        answers[pool.name] = _answer(boundary, found.get(key), result.describe())
    return answers


def _answer(boundary: str, section: Section | None, failed: str) -> LunsOrError:
    if section is None:
        return f"no answer ({failed})"
    if not section.ok:
        return section.error()
    try:
        return parse_luns(boundary, section.stdout)
    except ValueError as exc:
        return str(exc)
