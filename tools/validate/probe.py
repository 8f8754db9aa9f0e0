"""Collecting one node's facts over an open SSH session, in few round trips.

Each round trip is one POSIX ``sh`` script that runs several commands and frames
their output between lines carrying a random boundary, so that one SSH channel
returns many results (stdout, exit code, stderr of each). libvirt is asked in
``virsh`` batch mode (one process and one connection for many commands, each
answer again framed by ``echo`` lines):

1. facts: lists of networks and pools, capabilities, hostname, versions,
   running guests' memory (one virsh), name resolution of every node,
   /proc/meminfo, the lock manager's configuration, Pacemaker and Corosync;
2. the XML of every network and pool (one virsh);
3. the clock (``date``, alone, so that the round trip bounds the offset);
4. SSH trust: ``virsh -c qemu+ssh://PEER/system hostname`` to every other node,
   a few at a time, and ``ssh -o BatchMode=yes PEER true`` when it fails, to
   tell an SSH problem from a libvirt one.

The session is the seam: anything with ``run(command, timeout) ->
CommandResult`` (the SSH adapter, or a fake in tests).
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from havirt.ocf.runner import CommandResult
from havirt.tools.findings import ERROR, WARNING, Finding
from havirt.tools.validate import facts as F
from havirt.tools.validate.targets import Target

T = TypeVar("T")
LOCAL_URI = "qemu:///system"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TRUST_PARALLEL = 4  # probes at once from one node: stays under sshd's MaxStartups (10)
CONF = {
    "qemu.conf": "/etc/libvirt/qemu.conf",
    "lockd.conf": "/etc/libvirt/qemu-lockd.conf",
    "sanlock.conf": "/etc/libvirt/qemu-sanlock.conf",
}
VIRSH_BATCH = (
    ("net-all", "net-list --all --name"),
    ("net-active", "net-list --name"),
    ("net-autostart", "net-list --all --autostart --name"),
    ("pool-all", "pool-list --all --name"),
    ("pool-active", "pool-list --name"),
    ("pool-autostart", "pool-list --all --autostart --name"),
    ("capabilities", "capabilities"),
    ("hostname", "hostname"),
    ("version", "version"),
    ("domstats", "domstats --balloon --list-active"),
)


class Session(Protocol):
    def run(self, command: str, timeout: float) -> CommandResult: ...


@dataclass
class ProbeOptions:
    """What to collect, and the limits."""

    trust: bool = True  # probe SSH trust to the other nodes
    migration_user: str | None = None  # user@ in the qemu+ssh:// URIs (None: the login user)
    command_timeout: float = 20.0  # each remote command
    # This machine's wall clock, against which each node's clock is compared (None:
    # time.time, looked up when used so that a test's fake is never bypassed).
    clock: Callable[[], float] | None = None


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


# ---------------------------------------------------------------- framing


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
        f"PATH=$PATH:{PATH}; export PATH; LC_ALL=C; export LC_ALL; unset LANGUAGE",
        f"b={shlex.quote(boundary)}",
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


# ---------------------------------------------------------------- collecting


def libvirt_fix(target: Target) -> str:
    who = target.user or "the SSH user"
    return (
        f"make sure libvirtd runs on {target.name} and that {who} may use {LOCAL_URI} there "
        "(root, or a member of the 'libvirt' group)"
    )


class Collector:
    """Collects one node's facts through ``session``; never raises for a node's state."""

    def __init__(
        self,
        session: Session,
        target: Target,
        everyone: Sequence[Target],
        options: ProbeOptions,
        login_user: str | None,
    ) -> None:
        self.session = session
        self.target = target
        self.everyone = list(everyone)
        self.options = options
        self.login_user = login_user
        self.facts = F.NodeFacts(target.name)
        self.guests: tuple[tuple[str, int], ...] = ()  # running guests' memory, from virsh

    def problem(self, check: str, item: str, message: str, fix: str, severity: str = ERROR) -> None:
        self.facts.problems.append(Finding(check, severity, message, fix, item=item))

    def run_sections(self, sections: Sequence[tuple[str, str]]) -> dict[str, Section] | None:
        boundary = new_boundary()
        script = sections_script(boundary, sections)
        budget = self.options.command_timeout * 2 + 10  # sections run one after another
        result = self.session.run(sh_command(script), timeout=budget * max(1, len(sections)))
        found = parse_sections(boundary, result.stdout)
        if not found and not result.ok:
            return None
        return found

    def collect(self) -> F.NodeFacts:
        self.collect_facts()
        # Not first: a connection's first channel waits ~40 ms for sshd's post-login
        # messages to be acknowledged, which would widen the clock's round trip.
        self.collect_clock()
        if self.options.trust and len(self.everyone) > 1:
            self.collect_trust()
        return self.facts

    # -- clock

    def collect_clock(self) -> None:
        clock = self.options.clock or time.time
        before = clock()
        result = self.session.run("date +%s.%N", timeout=self.options.command_timeout)
        after = clock()
        try:
            remote = float(result.stdout.strip())
        except ValueError:
            self.problem(
                "clock",
                "clock",
                f"could not read the clock: {result.describe()}",
                f"check that 'date' works for the SSH user on {self.target.name}",
            )
            return
        self.facts.clock_offset = remote - (before + after) / 2
        self.facts.clock_uncertainty = (after - before) / 2

    # -- facts

    def collect_facts(self) -> None:
        boundary = new_boundary()
        batch = virsh_batch(boundary, VIRSH_BATCH)
        limit = self.options.command_timeout
        sections = [("virsh", bounded(f"virsh -c {LOCAL_URI} {shlex.quote(batch)}", limit))]
        named = [t.name for t in self.everyone if not t.name_is_address]
        if named:
            # One getent for all names, not one per name: n processes per node, not n².
            keys = " ".join(shlex.quote(k) for k in F.getent_keys(named))
            sections.append(("resolve", bounded(f"getent ahosts {keys}", limit)))
        sections.append(("meminfo", "cat /proc/meminfo"))
        for key, path in CONF.items():
            quoted = shlex.quote(path)
            # qemu.conf is root's alone (0600) on Debian: a non-root user may have sudo for it.
            fallback = f' || {{ [ "$(id -u)" -ne 0 ] && sudo -n cat {quoted}; }}'
            sections.append((key, f"cat {quoted}" + (fallback if key == "qemu.conf" else "")))
        sections.append(("pacemaker", "pacemakerd --version --output-as=xml"))
        sections.append(("corosync", "corosync -v"))
        found = self.run_sections(sections)
        if found is None:
            self.problem(
                "connect",
                "commands",
                "could not run commands over SSH",
                f"check that the SSH user may run a shell on {self.target.name}",
            )
            return
        self.parse_virsh(boundary, found.get("virsh"))
        self.parse_resolution(found.get("resolve"), named)
        self.parse_memory(found.get("meminfo"))
        self.parse_lock(found)
        self.parse_cluster_versions(found)

    def parse_virsh(self, boundary: str, section: Section | None) -> None:
        answers = split_marked(boundary, section.stdout) if section else {}
        if not answers.get("capabilities"):
            reason = section.error() if section else "no answer"
            for check, item in (
                ("networks", "libvirt networks"),
                ("pools", "storage pools"),
                ("host-uuid", "host UUID"),
                ("cpu", "host CPU"),
                ("versions", "libvirt/QEMU versions"),
                ("hostnames", "hostname"),
            ):
                self.problem(
                    check, item, f"libvirt did not answer: {reason}", libvirt_fix(self.target)
                )
            return
        facts = self.facts
        try:
            facts.host_uuid, facts.cpu = F.parse_capabilities(answers["capabilities"])
        except ValueError as exc:
            self.problem("cpu", "capabilities", f"unreadable capabilities: {exc}", "report a bug")
        facts.hostname = answers.get("hostname", "").strip() or None
        facts.versions = F.parse_virsh_version(answers.get("version", ""))
        self.guests = F.parse_domstats_balloon(answers.get("domstats", ""))
        self.collect_definitions(answers)

    def collect_definitions(self, answers: dict[str, str]) -> None:
        nets = F.names(answers.get("net-all", ""))
        pools = F.names(answers.get("pool-all", ""))
        if not nets and not pools:
            self.facts.networks, self.facts.pools = {}, {}
            return
        boundary = new_boundary()
        commands = [(f"net{i}", f"net-dumpxml {virsh_word(n)}") for i, n in enumerate(nets)]
        commands += [(f"pool{i}", f"pool-dumpxml {virsh_word(p)}") for i, p in enumerate(pools)]
        batch = virsh_batch(boundary, commands)
        virsh = f"virsh -c {LOCAL_URI} {shlex.quote(batch)}"
        found = self.run_sections([("dump", bounded(virsh, self.options.command_timeout))])
        section = (found or {}).get("dump")
        dumps = split_marked(boundary, section.stdout) if section else {}
        self.facts.networks = self.parse_each(
            "networks",
            "network",
            nets,
            [dumps.get(f"net{i}", "") for i in range(len(nets))],
            set(F.names(answers.get("net-active", ""))),
            set(F.names(answers.get("net-autostart", ""))),
            F.parse_network,
        )
        self.facts.pools = self.parse_each(
            "pools",
            "pool",
            pools,
            [dumps.get(f"pool{i}", "") for i in range(len(pools))],
            set(F.names(answers.get("pool-active", ""))),
            set(F.names(answers.get("pool-autostart", ""))),
            F.parse_pool,
        )

    def parse_each(
        self,
        check: str,
        kind: str,
        names: list[str],
        texts: list[str],
        active: set[str],
        autostart: set[str],
        parse: Callable[[str, bool, bool], T],
    ) -> dict[str, T]:
        """Parse each object's XML; an unreadable one is a problem, not a crash."""
        parsed: dict[str, T] = {}
        for name, text in zip(names, texts, strict=True):
            try:
                parsed[name] = parse(text, name in active, name in autostart)
            except ValueError as exc:
                self.problem(
                    check,
                    f"{kind} '{name}'",
                    f"could not read its XML: {exc}",
                    libvirt_fix(self.target),
                )
        return parsed

    def parse_resolution(self, section: Section | None, named: list[str]) -> None:
        if not named:
            self.facts.resolution = {}
            return
        try:
            if section is None or section.rc not in (0, 2):  # 2: some name not found
                raise ValueError(section.error() if section else "no answer")
            self.facts.resolution = F.parse_getent_keys(section.stdout, named)
        except ValueError as exc:
            self.problem(
                "hostnames",
                "name resolution",
                f"could not resolve the node names: {exc}",
                f"check that 'getent ahosts {named[0]}' answers on {self.target.name}",
            )

    def parse_memory(self, section: Section | None) -> None:
        try:
            if section is None or not section.ok:
                raise ValueError(section.error() if section else "no answer")
            total, available = F.parse_meminfo(section.stdout)
        except ValueError as exc:
            self.facts.memory = None
            self.problem(
                "memory",
                "memory",
                f"could not read /proc/meminfo: {exc}",
                f"check /proc on {self.target.name}",
            )
            return
        self.facts.memory = F.Memory(total, available, self.guests)

    def parse_lock(self, found: dict[str, Section]) -> None:
        qemu = found.get("qemu.conf")
        if qemu is None or not qemu.ok:
            reason = qemu.error() if qemu else "no answer"
            denied = qemu is not None and "denied" in qemu.stderr.lower()
            who = self.login_user or "the SSH user"
            fix = (
                f"run validate as root, or let {who} read {CONF['qemu.conf']} on "
                f"{self.target.name} (e.g. sudo rule for 'cat {CONF['qemu.conf']}')"
                if denied
                else f"check that libvirt's QEMU driver is installed on {self.target.name}"
            )
            self.problem(
                "lock-manager",
                "qemu.conf",
                f"could not read {CONF['qemu.conf']}: {reason}",
                fix,
                severity=WARNING if denied else ERROR,
            )
            return
        manager = F.parse_libvirt_conf(qemu.stdout).get("lock_manager", "") or "none"
        driver = found.get(f"{manager}.conf")
        self.facts.lock = F.lock_config(qemu.stdout, driver.stdout if driver else None)

    def parse_cluster_versions(self, found: dict[str, Section]) -> None:
        versions = dict(self.facts.versions or {})
        for key, parse in (
            ("pacemaker", F.parse_pacemaker_version),
            ("corosync", F.parse_corosync_version),
        ):
            section = found.get(key)
            if section is None or section.rc == 127:
                versions[key] = None  # not installed
                continue
            versions[key] = parse(section.stdout) or parse(section.stderr) or "unknown"
        self.facts.versions = versions

    # -- SSH trust

    def trust_peers(self) -> list[Target]:
        """The other nodes, starting after this one: at any moment each node is probed
        by about one other, not by all of them at once."""
        others = self.everyone
        index = next(i for i, t in enumerate(others) if t.name == self.target.name)
        return [others[(index + k) % len(others)] for k in range(1, len(others))]

    def collect_trust(self) -> None:
        peers = self.trust_peers()
        boundary = new_boundary()
        script = trust_script(
            boundary, peers, self.options.migration_user, self.options.command_timeout
        )
        waves = -(-len(peers) // TRUST_PARALLEL)
        result = self.session.run(
            sh_command(script), timeout=(self.options.command_timeout * 2 + 10) * waves
        )
        found = parse_sections(boundary, result.stdout)
        trust = {}
        for i, peer in enumerate(peers):
            section = found.get(f"v{i}")
            if section is None:
                trust[peer.name] = F.Trust(peer.name, False, libvirt_error=result.describe())
                continue
            if section.ok:
                answered = section.stdout.strip() or None
                trust[peer.name] = F.Trust(peer.name, True, answered=answered)
                continue
            ssh = found.get(f"s{i}")
            trust[peer.name] = F.Trust(
                peer.name,
                False,
                libvirt_error=section.error(),
                ssh_ok=ssh.ok if ssh else None,
                ssh_error=(F.last_line(ssh.stderr) or ssh.error()) if ssh and not ssh.ok else None,
            )
        self.facts.trust = trust


def cpu_baseline(session: Session, cpu_xmls: Sequence[str], timeout: float) -> str | None:
    """A <cpu> every one of these host CPUs runs (``virsh cpu-baseline``), or None."""
    end = new_boundary()  # the here-document's delimiter; quoted, so nothing is expanded
    document = "\n".join(cpu_xmls)  # virsh's format: <cpu> elements one after another
    script = f"virsh -c {LOCAL_URI} cpu-baseline /dev/stdin <<'{end}'\n{document}\n{end}\n"
    result = session.run(sh_command("LC_ALL=C; export LC_ALL\n" + script), timeout=timeout)
    text = result.stdout.strip()
    return text if result.ok and text.startswith("<cpu") else None


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
        f"PATH=$PATH:{PATH}; export PATH; LC_ALL=C; export LC_ALL; unset LANGUAGE",
        f"b={shlex.quote(boundary)}",
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
