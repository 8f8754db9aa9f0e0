"""Random bytes and random TOML/XML structures into every reader of outside input
(issue 11.6): the inventory loader (``havirt inventory check``), the CIB reader and
apply's merge, the guest agent's config reader, and a fence agent's standard input.

Every case must end in success or the domain's own error (HavirtError, OcfError,
FenceError's exit code) with a short message, an exit code from the documented set,
no other exception, within a per-case alarm, and without writing a file. The seed is
fixed, so a failure names a case that can be replayed (``FUZZ_SEED``/``FUZZ_CASES``
environment variables widen a local run). The whole file runs in well under a minute.
"""

from __future__ import annotations

import copy
import io
import itertools
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from example_paths import EXAMPLES
from havirt.agents.fence_havirt import FenceHavirt
from havirt.agents.guest import domain_config
from havirt.agents.pool import definition as pool_definition
from havirt.ocf import fencing
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.fencing import FenceError
from havirt.ocf.runner import CommandResult
from havirt.tools import generate
from havirt.tools.cli.exit_codes import exit_code_for
from havirt.tools.cli.main import main
from havirt.tools.errors import HavirtError
from havirt.tools.generate.apply import merge
from havirt.tools.inventory import load
from havirt.tools.pacemaker import CibVersion
from havirt.tools.pacemaker.cib import parse_config
from lxml import etree

sys.path.insert(0, str(Path(__file__).parents[1] / "ocf"))  # the toy fence host
from fence_toy import FakeClock

SEED = int(os.environ.get("FUZZ_SEED", "20261203"))
CASES = int(os.environ.get("FUZZ_CASES", "1000"))
CASE_SECONDS = 5  # a case taking longer is a hang
TARGET_SECONDS = 10.0  # per target; a slow CI machine runs fewer cases, never longer
LINE_LIMIT = 600  # no line of a message may be longer (values are echoed cut)

LAB_TEXT = (EXAMPLES / "lab.toml").read_text()
GENERATED_CIB = generate.render(load(str(EXAMPLES / "lab.toml")))[generate.CIB_XML]
DOMAIN_XML = """<domain type='kvm'>
  <name>vm1</name><uuid>6f1b8c2e-52a4-4d3e-9a0b-0123456789ab</uuid>
  <memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <devices>
    <disk type='file'><source file='/srv/vm1.qcow2'/><target dev='vda'/></disk>
    <interface type='network'><source network='default'/></interface>
    <channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
  </devices>
</domain>
"""


# -- the per-case alarm ---------------------------------------------------------------------


class Hang(Exception):
    pass


@contextmanager
def alarm(seconds: float, case: str) -> Iterator[None]:
    def expired(signum, frame):
        raise Hang(f"{case}: no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cases(name: str) -> Iterator[tuple[int, random.Random]]:
    """(number, its own Random) until CASES or TARGET_SECONDS, whichever comes first."""
    began = time.monotonic()
    for number in range(CASES):
        if time.monotonic() - began > TARGET_SECONDS and number >= 30:
            return
        yield number, random.Random(f"{SEED}-{name}-{number}")


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def check_message(text: str, case: str, lines: int = 3) -> None:
    shown = text.splitlines()
    assert len(shown) <= lines, f"{case}: {len(shown)} lines:\n{text[:2000]}"
    for line in shown:
        assert len(line) <= LINE_LIMIT, f"{case}: a line of {len(line)} characters"
    assert "Traceback" not in text, f"{case}: {text[:2000]}"


# -- generators -----------------------------------------------------------------------------

PUNCT = "[]{}=\"'\\\n\t #,.:-_+@/<>&;"
ODD = ["\x00", "\x1b", "\x7f", "\u2028", "\ufeff", "é", "٣", "²", "\ud800"]


def rand_text(rng: random.Random, n: int) -> str:
    pool = "abcdefghijklmnopqrstuvwxyz0123456789" + PUNCT
    out = []
    for _ in range(n):
        r = rng.random()
        out.append(rng.choice(ODD) if r < 0.03 else rng.choice(pool))
    return "".join(out)


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def mutate(rng: random.Random, data: bytes) -> bytes:
    """A few byte-level edits of a valid document: the likeliest real mistakes."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(7)
        at = rng.randrange(len(buf) + 1)
        if op == 0 and buf:
            buf[min(at, len(buf) - 1)] = rng.getrandbits(8)
        elif op == 1:
            del buf[at : at + rng.randint(1, 40)]
        elif op == 2:
            buf[at:at] = rand_text(rng, rng.randint(1, 30)).encode("utf-8", "surrogatepass")
        elif op == 3 and buf:
            start = rng.randrange(len(buf))
            buf[at:at] = buf[start : start + rng.randint(1, 200)]
        elif op == 4:
            del buf[at:]
        elif op == 5:
            n = rng.choice([40, 300, 3000])
            opener, closer = rng.choice([(b"[", b"]"), (b"{a=", b"}"), (b"<a>", b"</a>")])
            buf[at:at] = opener * n + closer * n
        else:
            buf[at:at] = rng.choice([b"9" * rng.choice([20, 400, 5000]), b"nan", b"-inf", b"\x00"])
    return bytes(buf)


TOML_KEYS = [
    "cluster",
    "nodes",
    "guests",
    "storage",
    "networks",
    "policies",
    "guest_defaults",
    "name",
    "memory",
    "vcpus",
    "mac",
    "ip",
    "addresses",
    "fence",
    "agent",
    "options",
    "properties",
    "overrides",
    "preferred_nodes",
    "anti_affinity",
    "config",
    "stickiness",
    "monitor_interval",
]


def toml_key(rng: random.Random) -> str:
    if rng.random() < 0.7:
        return rng.choice(TOML_KEYS)
    key = rand_text(rng, rng.randint(1, 12))
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def toml_value(rng: random.Random, depth: int = 0) -> str:
    r = rng.randrange(12 if depth < 4 else 8)
    if r == 0:
        return str(rng.choice([0, -1, 1, 2**63, -(2**63) - 1, 10**30]))
    if r == 1:
        return rng.choice(["nan", "inf", "-inf", "1e308", "1.5", "0x_1", "1__0"])
    if r == 2:
        return rng.choice(["true", "false", "1979-05-27T07:32:00Z", "07:32:00"])
    if r in (3, 4, 5):
        text = rng.choice(
            ["128MiB", "2GiB", "10s", "52:54:00:00:00:01", "01:00:5e:00:00:01", "node1", "vm1"]
        )
        if rng.random() < 0.5:
            text = rand_text(rng, rng.randint(0, 80))
        escaped = "".join(
            c if c.isprintable() and c not in '"\\' else f"\\u{ord(c) & 0xFFFF:04x}" for c in text
        )
        return f'"{escaped}"'
    if r in (6, 7):
        return '"' + "x" * rng.choice([100, 5000]) + '"'
    if r in (8, 9):
        return "[" + ", ".join(toml_value(rng, depth + 1) for _ in range(rng.randint(0, 4))) + "]"
    return (
        "{"
        + ", ".join(
            f"{toml_key(rng)} = {toml_value(rng, depth + 1)}" for _ in range(rng.randint(0, 3))
        )
        + "}"
    )


def toml_document(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(1, 8)):
        header = rng.choice(["[{}]", "[[{}]]", "[{}.{}]"])
        lines.append(header.format(toml_key(rng), toml_key(rng)))
        for _ in range(rng.randint(0, 6)):
            lines.append(f"{toml_key(rng)} = {toml_value(rng)}")
    return "\n".join(lines) + "\n"


def toml_case(rng: random.Random) -> bytes:
    kind = rng.randrange(4)
    if kind == 0:
        return rand_bytes(rng, rng.randint(0, 2000))
    if kind == 1:
        return mutate(rng, LAB_TEXT.encode())
    if kind == 2:
        return toml_document(rng).encode("utf-8", "surrogatepass")
    # a valid inventory with a random value put in place of one of its values
    lines = LAB_TEXT.splitlines()
    candidates = [i for i, line in enumerate(lines) if " = " in line]
    i = rng.choice(candidates)
    key = lines[i].split(" = ", 1)[0]
    lines[i] = f"{key} = {toml_value(rng)}"
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


CIB_TAGS = [
    "cib",
    "configuration",
    "crm_config",
    "cluster_property_set",
    "nvpair",
    "nodes",
    "node",
    "utilization",
    "instance_attributes",
    "meta_attributes",
    "resources",
    "primitive",
    "clone",
    "group",
    "operations",
    "op",
    "constraints",
    "rsc_location",
    "rsc_colocation",
    "rule",
    "expression",
    "rsc_defaults",
    "status",
]
CIB_ATTRS = [
    "id",
    "name",
    "value",
    "uname",
    "epoch",
    "admin_epoch",
    "num_updates",
    "class",
    "provider",
    "type",
    "rsc",
    "with-rsc",
    "node",
    "score",
    "score-attribute",
    "role",
]


def xml_attr_value(rng: random.Random) -> str:
    text = rng.choice(
        ["havirt", "VirtualDomain", "ocf", "1", "-INFINITY", "node1", "vm1", "x" * 300, ""]
    )
    if rng.random() < 0.4:
        text = rand_text(rng, rng.randint(0, 20))
    return "".join(
        {"<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;"}.get(c, c)
        for c in text
        if c.isprintable() and c not in "\ud800\ufeff"
    )


DOMAIN_TAGS = [
    "domain",
    "name",
    "uuid",
    "memory",
    "vcpu",
    "devices",
    "disk",
    "source",
    "target",
    "interface",
    "channel",
    "readonly",
    "shareable",
    "lease",
]
DOMAIN_ATTRS = ["type", "unit", "file", "dev", "pool", "network", "name", "id"]
VOCABULARY = {"cib": (CIB_TAGS, CIB_ATTRS), "domain": (DOMAIN_TAGS, DOMAIN_ATTRS)}


def xml_element(rng: random.Random, kind: str = "cib", depth: int = 0) -> str:
    tags, names = VOCABULARY[kind]
    tag = rng.choice(tags)
    attrs = "".join(
        f' {name}="{xml_attr_value(rng)}"' for name in rng.sample(names, rng.randint(0, 4))
    )
    children = ""
    if rng.random() < 0.3:
        children = xml_attr_value(rng)
    elif depth < 6:
        children = "".join(xml_element(rng, kind, depth + 1) for _ in range(rng.randint(0, 4)))
    return f"<{tag}{attrs}>{children}</{tag}>"


def tree_mutate(rng: random.Random, base: str, kind: str) -> str:
    """Well-formed, but with elements and attributes removed, doubled, changed or added."""
    root = etree.fromstring(base.encode())
    elements = list(root.iter())
    names = VOCABULARY[kind][1]
    for _ in range(rng.randint(1, 8)):
        el = rng.choice(elements)
        op = rng.randrange(5)
        if op == 0 and el.getparent() is not None:
            el.getparent().remove(el)
        elif op == 1 and el.getparent() is not None:
            el.addnext(copy.deepcopy(el))
        elif op == 2:
            el.set(rng.choice(names), xml_attr_value(rng))
        elif op == 3 and el.attrib:
            del el.attrib[rng.choice(list(el.attrib))]
        else:
            el.append(etree.fromstring(xml_element(rng, kind, 4)))
        elements = list(root.iter())
    return etree.tostring(root, encoding="unicode")


def xml_case(rng: random.Random, base: str, kind: str = "cib") -> str:
    choice = rng.randrange(8)
    if choice == 0:
        return rand_bytes(rng, rng.randint(0, 2000)).decode("utf-8", "replace")
    if choice == 1:
        return mutate(rng, base.encode()).decode("utf-8", "replace")
    if choice in (2, 3, 4):
        return tree_mutate(rng, base, kind)
    if choice == 5:
        if kind == "domain":
            return xml_element(rng, kind).replace(rng.choice(DOMAIN_TAGS), "domain", 1)
        inner = "".join(xml_element(rng, kind, 2) for _ in range(rng.randint(0, 5)))
        return (
            f'<cib epoch="{rng.randint(0, 9)}" admin_epoch="0" num_updates="0">'
            f"<configuration>{inner}</configuration><status/></cib>"
        )
    if choice == 6:
        n = rng.choice([100, 300, 3000])
        return f"<{kind}><configuration>" + "<a>" * n + "</a>" * n + f"</configuration></{kind}>"
    entity = rng.choice(
        [
            '<!ENTITY e "x">',
            '<!ENTITY e SYSTEM "file:///etc/passwd">',
            '<!ENTITY e SYSTEM "http://192.0.2.1/x">',
            '<!ENTITY a "aaaa"><!ENTITY e "&a;&a;&a;&a;&a;&a;&a;&a;">',
        ]
    )
    return (
        f'<?xml version="1.0"?><!DOCTYPE {kind} [{entity}]>'
        f'<{kind} epoch="1" admin_epoch="0" num_updates="0"><name>&e;</name><configuration>'
        f'<crm_config><cluster_property_set id="c"><nvpair id="n" name="x" value="&e;"/>'
        f"</cluster_property_set></crm_config>&e;</configuration></{kind}>"
    )


# -- the targets ----------------------------------------------------------------------------


def test_inventory_check_answers_every_input(tmp_path) -> None:
    runner = CliRunner()
    work = tmp_path / "work"
    work.mkdir()
    for number, rng in cases("inventory"):
        case = f"inventory case {number} (FUZZ_SEED={SEED})"
        path = work / "inventory.toml"
        path.write_bytes(toml_case(rng))
        with alarm(CASE_SECONDS, case):
            result = runner.invoke(main, ["inventory", "check", str(path)])
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{case}: uncaught {result.exception!r}"
        )
        assert result.exit_code in (0, 1), f"{case}: exit {result.exit_code}"
        check_message(result.output, case, lines=60)
        assert files_under(work) == ["inventory.toml"], f"{case}: wrote a file"


def test_the_cib_reader_and_the_merge_answer_every_input() -> None:
    readers: list[tuple[str, Callable[[str], object]]] = [
        ("parse_config", parse_config),
        ("CibVersion.of", CibVersion.of),
        ("merge", lambda xml: merge(xml, GENERATED_CIB)),
    ]
    for number, rng in cases("cib"):
        xml = xml_case(rng, GENERATED_CIB)
        for name, read in readers:
            case = f"cib case {number} {name} (FUZZ_SEED={SEED})"
            with alarm(CASE_SECONDS, case):
                try:
                    read(xml)
                except HavirtError as exc:
                    assert exit_code_for(exc) == 1, case
                    check_message(str(exc), case, lines=2)


def test_the_guest_config_reader_answers_every_input(tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    allowed = {OcfExit.ERR_CONFIGURED, OcfExit.ERR_INSTALLED, OcfExit.ERR_PERM}
    for number, rng in cases("domain"):
        case = f"domain config case {number} (FUZZ_SEED={SEED})"
        path = work / "vm1.xml"
        text = xml_case(rng, DOMAIN_XML, "domain")
        path.write_bytes(text.encode("utf-8", "surrogateescape"))
        for name, read in (
            ("load", lambda p=str(path): domain_config.load(p)),
            ("parse", lambda p=str(path), t=text: domain_config.parse(p, t)),
        ):
            with alarm(CASE_SECONDS, f"{case} {name}"):
                try:
                    read()
                except OcfError as exc:
                    assert exc.code in allowed, f"{case} {name}: {exc.code!r}"
                    check_message(exc.reason, case, lines=1)
        assert files_under(work) == ["vm1.xml"], f"{case}: wrote a file"
        with alarm(CASE_SECONDS, f"{case} pool"):
            try:
                pool_definition.from_xml(text.replace("domain", "pool"))
            except pool_definition.DefinitionError as exc:
                check_message(str(exc), case, lines=1)


class RefusingRunner:
    """No command may run for a fuzzed fence call (password_script, ...)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    def run(self, argv, timeout=None, **kwargs) -> CommandResult:
        self.calls.append(tuple(argv))
        return CommandResult(tuple(argv), 127, "", "refused by the fuzz test")


class NoDevice(FenceHavirt):
    """fence_havirt's option table and checks, but no hypervisor is ever reached."""

    def connect(self, ctx):
        raise FenceError("no device in the fuzz test")


FENCE_NAMES = [
    name
    for name in (o.name for o in NoDevice.option_table().options)
    if name not in ("password_script", "debug_file", "password_file")
]


def stdin_case(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return rand_bytes(rng, rng.randint(0, 3000)).decode("utf-8", "replace")
    lines = []
    for _ in range(rng.randint(0, 40 if kind != 3 else 3000)):
        if kind == 3 or rng.random() < 0.2:
            lines.append(f"{rand_text(rng, rng.randint(1, 10))}={rand_text(rng, 5)}")
        else:
            value = rng.choice(
                [
                    "off",
                    "status",
                    "list",
                    "monitor",
                    "metadata",
                    "validate-all",
                    "vm1",
                    "qemu:///system",
                    "9" * 30,
                    "nan",
                    "-1",
                    "x" * 5000,
                    rand_text(rng, rng.randint(0, 30)),
                ]
            )
            lines.append(f"{rng.choice(FENCE_NAMES)}={value}")
    return "\n".join(lines) + "\n"


def test_the_fence_agent_answers_every_standard_input(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for number, rng in cases("fence"):
        case = f"fence case {number} (FUZZ_SEED={SEED})"
        out, err = io.StringIO(), io.StringIO()
        runner = RefusingRunner()
        with alarm(CASE_SECONDS, case):
            rc = fencing.run(
                NoDevice(),
                ["fence_havirt"],
                stdin=io.StringIO(stdin_case(rng)),
                stdout=out,
                stderr=err,
                runner=runner,
                host=FakeClock(),
            )
        assert rc in (fencing.EXIT_OK, fencing.EXIT_ERROR, fencing.EXIT_OFF), f"{case}: rc {rc}"
        assert runner.calls == [], f"{case}: ran {runner.calls}"
        errors = [line for line in err.getvalue().splitlines() if line.startswith("ERROR:")]
        warnings = [line for line in err.getvalue().splitlines() if line.startswith("WARNING:")]
        assert len(errors) <= 1 and len(warnings) <= 4, f"{case}:\n{err.getvalue()[:3000]}"
        for line in errors + warnings:
            assert len(line) <= LINE_LIMIT and "\x00" not in line, f"{case}: {line[:500]}"
        assert "Traceback" not in err.getvalue(), f"{case}: {err.getvalue()[:3000]}"
        assert files_under(tmp_path) == [], f"{case}: wrote a file"


@pytest.mark.parametrize("target", ["inventory", "cib", "domain", "fence"])
def test_the_cases_are_the_same_on_every_run(target) -> None:
    """Deterministic: a failure in CI replays on a laptop."""
    first = [rng.random() for _, rng in itertools.islice(cases(target), 3)]
    again = [rng.random() for _, rng in itertools.islice(cases(target), 3)]
    assert first == again
