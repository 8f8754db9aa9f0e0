"""Hostile or mistaken input to the CLI (issue 11.6): a clear error naming the file or
option and the fix, the documented exit code, no traceback, no hang, nothing written."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner
from example_paths import EXAMPLES
from havirt.tools import generate
from havirt.tools.cli.main import main
from havirt.tools.cli.world import ClusterWorld
from havirt.tools.errors import HavirtError
from havirt.tools.generate.apply import apply_directory, record_live
from havirt.tools.inventory import check_text, load
from havirt.tools.pacemaker import Pacemaker
from runner_queue import ANY

LAB = str(EXAMPLES / "lab.toml")
LAB_TEXT = (EXAMPLES / "lab.toml").read_text()


def run(*args: str, env: dict[str, str] | None = None, world: ClusterWorld | None = None):
    result = CliRunner().invoke(main, list(args), env=env, obj=world)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"uncaught {result.exception!r}"
    )
    assert "Traceback" not in result.output
    return result


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture(autouse=True)
def alarm():
    """No case may hang: each gets 20 s."""

    def expired(signum, frame):
        raise TimeoutError("the command hung")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# -- output paths ---------------------------------------------------------------------------


def test_generate_into_a_file_is_refused(tmp_path) -> None:
    target = tmp_path / "afile"
    target.write_text("keep me")
    result = run("generate", LAB, "-o", str(target))
    assert result.exit_code == 1
    assert f"-o {target} exists and is not a directory" in result.output
    assert target.read_text() == "keep me"


def test_generate_into_a_read_only_directory_is_refused(tmp_path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    world = ClusterWorld(writable=lambda d: not str(d).startswith(str(ro)))  # root writes anywhere
    result = run("generate", LAB, "-o", str(ro / "out"), world=world)
    assert result.exit_code == 1 and "not writable" in result.output
    assert tree(ro) == []


def test_generate_checks_the_output_before_reading_the_inventory(tmp_path) -> None:
    target = tmp_path / "afile"
    target.write_text("")
    result = run("generate", str(tmp_path / "missing.toml"), "-o", str(target))
    assert result.exit_code == 1 and "-o" in result.output


def test_import_into_a_missing_directory_is_refused(tmp_path) -> None:
    conf = tmp_path / "cluster.conf"
    conf.write_text("vm9\t52:54:00:00:09:09\t192.168.77.99\t256\t1\t1\tlab\n")
    result = run("inventory", "import", str(conf), "-o", str(tmp_path / "no" / "inv.toml"))
    assert result.exit_code == 1
    assert "the directory" in result.output and "does not exist" in result.output
    assert tree(tmp_path) == ["cluster.conf"]


def test_import_of_binary_garbage_names_the_file(tmp_path) -> None:
    conf = tmp_path / "garbage.conf"
    conf.write_bytes(bytes(range(256)) * 10)
    out = tmp_path / "inv.toml"
    result = run("inventory", "import", str(conf), "-o", str(out))
    assert result.exit_code == 1
    assert f"cluster.conf {conf} is not UTF-8 text" in result.output
    assert not out.exists()


# -- inventories that are not files, or not inventories ------------------------------------


def test_inventory_check_on_a_fifo_does_not_hang(tmp_path) -> None:
    fifo = tmp_path / "inv.toml"
    os.mkfifo(fifo)
    result = run("inventory", "check", str(fifo))
    assert result.exit_code == 1 and "is a FIFO, not a regular file" in result.output


def test_an_oversized_inventory_is_refused(tmp_path) -> None:
    big = tmp_path / "big.toml"
    with open(big, "wb") as handle:
        handle.truncate(32 << 20)  # sparse: costs nothing
    result = run("inventory", "check", str(big))
    assert result.exit_code == 1 and "larger than" in result.output


def test_a_deeply_nested_inventory_is_an_error_with_its_line(tmp_path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 10000 + "]" * 10000 + "\n")
    result = run("inventory", "check", str(deep))
    assert result.exit_code == 1 and "deep.toml:1: arrays or inline tables nested" in result.output
    deep.write_text("a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n")
    assert run("inventory", "check", str(deep)).exit_code == 1


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("vcpus = 1", 'vcpus = 1\nmac = "01:00:5e:00:00:01"', "multicast"),
        ("vcpus = 1", 'vcpus = 1\nmac = "FF:FF:FF:FF:FF:FF"', "broadcast"),
        ("vcpus = 1", 'vcpus = 1\nmac = "52:54:00:00:00:01\\n"', "expected a MAC"),
        ('memory = "128MiB"', 'memory = "' + "9" * 400 + 'GiB"', "too large"),
        ("vcpus = 1", "vcpus = " + "9" * 40, "too large"),
        ('memory = "128MiB"', "memory = " + "9" * 5000, "4300 digits"),
    ],
)
def test_values_that_cannot_be_right_are_errors(old, new, words) -> None:
    assert old in LAB_TEXT
    result = check_text(LAB_TEXT.replace(old, new, 1), "x.toml")
    assert not result.ok
    assert any(words in str(p) for p in result.problems), result.problems


def test_a_huge_value_is_echoed_cut(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(LAB_TEXT.replace('memory = "128MiB"', 'memory = "' + "x" * 10_000_000 + '"', 1))
    result = run("inventory", "check", str(bad))
    assert result.exit_code == 1
    assert max(len(line) for line in result.output.splitlines()) < 300


# -- numbers on the command line ------------------------------------------------------------


@pytest.fixture
def no_cluster() -> ClusterWorld:
    """A world whose cluster refuses to be asked anything."""

    class Refuse:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def __getattr__(self, name):
            raise AssertionError(f"a refused option must not reach the cluster ({name})")

    return ClusterWorld(pacemaker=Refuse)


@pytest.mark.parametrize(
    "args",
    [
        ["node", "standby", "node1", "--timeout", "nan"],
        ["node", "standby", "node1", "--timeout", "-5"],
        ["node", "standby", "node1", "--timeout", "0"],
        ["node", "standby", "node1", "--timeout", "inf"],
        ["node", "standby", "node1", "--timeout", "1e999"],
        ["node", "unstandby", "node1", "--return", "--timeout", "NaN"],
        ["cluster", "maintenance", "off", "--timeout", "-inf"],
        ["place", "vm1", "--prefer", "node1", "--wait", "-5"],
        ["place", "vm1", "--prefer", "node1", "--wait", "nan"],
        ["place", "vm1", "--prefer", "node1", "--score", "9" * 30],
        ["balance", "--max-moves", "9" * 23],
        ["balance", "--max-moves", "0"],
        ["balance", "--threshold", "nan"],
        ["balance", "--min-gain", "-1"],
        ["domain", "list", "--timeout", "nan"],
        ["node", "list", "--timeout", "0"],
        ["validate", LAB, "--port", "99999999999999999999"],
        ["validate", LAB, "--max-clock-offset", "nan"],
        ["validate", LAB, "--connect-timeout", "inf"],
        ["validate", LAB, "--memory-reserve", "-1"],
        ["lab", "up", "--nodes", "-1"],
    ],
)
def test_numeric_options_refuse_nan_infinity_and_out_of_range(no_cluster, args) -> None:
    result = run(*args, world=no_cluster)
    assert result.exit_code == 2, result.output
    assert "Invalid value" in result.output or "is not a score" in result.output


# -- the CIB: malformed, too deep, huge, entity bombs -----------------------------------------

BOMB = (
    '<?xml version="1.0"?><!DOCTYPE cib [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>'
    '<cib epoch="1" admin_epoch="0" num_updates="0"><configuration>&e;&e;&e;</configuration></cib>'
)
BAD_CIBS = {
    "not-xml": "this is not XML",
    "empty": "",
    "too-deep": "<cib>" + "<a>" * 5000 + "</a>" * 5000 + "</cib>",
    "huge-attribute": '<cib epoch="1" x="' + "a" * (20 << 20) + '"><configuration/></cib>',
    "entity-bomb": BOMB,
    "external-entity": '<!DOCTYPE cib [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<cib epoch="1"><configuration>&x;</configuration></cib>',
    "not-a-cib": "<html/>",
    "bad-epoch": '<cib epoch="x"><configuration/></cib>',
}


@pytest.fixture
def lab_dir(tmp_path):
    inv = load(LAB)
    files = generate.render(inv)
    directory = str(tmp_path / "out")
    generate.write(directory, files, generate.manifest(inv, "0" * 64, files))
    return directory


@pytest.mark.parametrize("name", sorted(BAD_CIBS))
def test_diff_against_a_bad_live_cib_is_one_error_and_writes_nothing(
    lab_dir, runner_queue, name
) -> None:
    before = tree(Path(lab_dir))
    manifest = Path(lab_dir, "manifest.json").read_text()
    runner_queue.expect(["cibadmin", "--query"], stdout=BAD_CIBS[name])
    with pytest.raises(HavirtError) as caught:
        record_live(lab_dir, Pacemaker(runner_queue))
    assert "CIB" in caught.value.message and len(str(caught.value)) < 400
    assert tree(Path(lab_dir)) == before and Path(lab_dir, "manifest.json").read_text() == manifest


@pytest.mark.parametrize("name", sorted(BAD_CIBS))
def test_apply_against_a_bad_live_cib_pushes_nothing(lab_dir, runner_queue, name) -> None:
    good = '<cib epoch="7" num_updates="1" admin_epoch="0"><configuration/><status/></cib>'
    runner_queue.expect(["cibadmin", "--query"], stdout=good)
    record_live(lab_dir, Pacemaker(runner_queue))
    runner_queue.expect(["cibadmin", "--query"], stdout=BAD_CIBS[name])  # no push queued
    with pytest.raises(HavirtError) as caught:
        apply_directory(lab_dir, Pacemaker(runner_queue))
    assert len(str(caught.value)) < 400


def test_generate_diff_with_a_bad_cib_through_the_cli(lab_dir, runner_queue) -> None:
    runner_queue.expect(["cibadmin", "--query"], stdout=BAD_CIBS["too-deep"])
    world = ClusterWorld(pacemaker=lambda: Pacemaker(runner_queue))
    result = run("generate", LAB, "-o", lab_dir, "--diff", world=world)
    assert result.exit_code == 1
    assert "the CIB nests elements more than 256 deep" in result.output or (
        "Excessive depth" in result.output
    )
    assert "XML_PARSE_HUGE" not in result.output


def test_a_bad_generated_cib_xml_is_one_error(lab_dir, runner_queue) -> None:
    Path(lab_dir, "cib.xml").write_text("<cib")
    with pytest.raises(HavirtError, match="changed since havirt generate wrote it"):
        record_live(lab_dir, Pacemaker(runner_queue))
    os.remove(Path(lab_dir, "cib.xml"))
    os.mkfifo(Path(lab_dir, "cib.xml"))
    with pytest.raises(HavirtError, match="is a FIFO"):
        record_live(lab_dir, Pacemaker(runner_queue))


def test_crm_verify_refusal_shows_capped_error_lines_not_the_cib(lab_dir, runner_queue) -> None:
    good = '<cib epoch="7" num_updates="1" admin_epoch="0"><configuration/><status/></cib>'
    runner_queue.expect(["cibadmin", "--query"], stdout=good)
    record_live(lab_dir, Pacemaker(runner_queue))
    runner_queue.expect(["cibadmin", "--query"], stdout=good)
    dump = "".join(f"{n:5d}: <nvpair id='x{n}' name='y' value='z'/>\n" for n in range(2000))
    errors = "".join(f"(unpack_config) \terror: problem {n} " + "x" * 500 + "\n" for n in range(40))
    runner_queue.expect(
        ["crm_verify", "-VV", "--xml-file", ANY],
        returncode=78,
        stderr="new.xml:3: element nvpair: Relax-NG validity error : Invalid attribute x\n"
        + dump
        + errors,
    )
    with pytest.raises(HavirtError) as caught:
        apply_directory(lab_dir, Pacemaker(runner_queue))
    text = str(caught.value)
    assert "Invalid attribute x" in text and "nvpair id='x1'" not in text
    assert "... and 31 more" in text and len(text.splitlines()) < 16
    assert max(len(line) for line in text.splitlines()) < 260


# -- a generated directory that was tampered with ----------------------------------------------


def test_a_manifest_naming_files_outside_the_directory_removes_nothing(tmp_path) -> None:
    out = tmp_path / "out"
    assert run("generate", LAB, "-o", str(out)).exit_code == 0
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    manifest = out / "manifest.json"
    data = manifest.read_text().replace('"hosts"', '"../victim"')
    manifest.write_text(data)
    result = run("generate", LAB, "-o", str(out))
    assert result.exit_code == 1 and "a file outside" in result.output
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("kind", ["fifo", "directory", "deep-json", "not-json"])
def test_odd_files_in_a_generated_directory_are_one_error(tmp_path, kind) -> None:
    out = tmp_path / "out"
    assert run("generate", LAB, "-o", str(out)).exit_code == 0
    target = out / ("hosts" if kind in ("fifo", "directory") else "manifest.json")
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "deep-json":
        target.write_text("[" * 100_000 + "]" * 100_000)
    else:
        target.write_text("\x00garbage")
    result = run("generate", LAB, "-o", str(out))
    if kind == "fifo":  # not read (it would block): replaced by the generated file
        assert result.exit_code == 0 and target.is_file()
        return
    assert result.exit_code == 1 and "havirt: error:" in result.output
    assert run("apply", str(out)).exit_code == 1


@pytest.mark.parametrize("option", ["--known-hosts", "--ssh-config"])
def test_validate_refuses_ssh_files_that_are_fifos(tmp_path, option) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # devices: tests/integration/test_bad_input_on_the_host.py
    for path, words in ((fifo, "is a FIFO"),):
        result = run("validate", "--host", "n1=127.0.0.1", option, str(path))
        assert result.exit_code == 2 and words in result.output, result.output
