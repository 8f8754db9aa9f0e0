"""The nested-KVM Vagrant lab (vagrant/): the Vagrantfile validates, the provisioning
scripts parse and their helpers are idempotent, the key material is made once, and the
inventory template renders to TOML that havirt's own commands accept.

Nothing here starts a VM or touches a network: `vagrant validate` only reads the
Vagrantfile (run on a copy of vagrant/, with Vagrant's state in a temporary
directory). Vagrant is not among the packages bootstrap installs (it is large and
needed for this check only): without `vagrant` and the vagrant-libvirt plugin
(`apt-get install vagrant vagrant-libvirt`) those tests skip.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LAB = REPO / "vagrant"
PROVISION = LAB / "provision"
BOX = LAB / "box"
# Every shell script of the lab: provisioning (in the machines), the box and the
# preparation on the outer host.
SCRIPTS = sorted([*PROVISION.glob("*.sh"), *BOX.glob("*.sh"), *LAB.glob("*.sh")])
HAVIRT = Path(sys.executable).with_name("havirt")


def _settings() -> dict[str, str]:
    """vagrant/settings.env's defaults, read as the Vagrantfile reads them."""
    values = {}
    for line in (LAB / "settings.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip().strip("'\"")
    return values


def _bash(script: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", f"set -euo pipefail; source {PROVISION}/common.sh; {script}"],
        env={"PATH": os.environ["PATH"], "HAVIRT_VAGRANT_NODE": "test", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _provision_env() -> dict[str, str]:
    """What the Vagrantfile hands its provisioners, for the default settings."""
    settings = _settings()
    outer = f"{settings['HAVIRT_VAGRANT_CLUSTER_NET']}.1"
    return {
        **settings,
        "HAVIRT_SRC": str(REPO),
        "HAVIRT_VAGRANT_OUTER_ADDRESS": outer,
        "HAVIRT_VAGRANT_OUTER_USER": "labuser",
        "HAVIRT_VAGRANT_OUTER_URI": f"qemu+ssh://labuser@{outer}/system",
        "HAVIRT_VAGRANT_COROSYNC_TOKEN": "10s",  # what auto gives under qemu (TCG)
        "HAVIRT_VAGRANT_LOAD_THRESHOLD": "400%",  # the same
        "HAVIRT_VAGRANT_HV_CPUS": "1",  # the same
    }


# -- the scripts ---------------------------------------------------------------------


def test_there_are_provisioning_scripts() -> None:
    names = {p.name for p in SCRIPTS}
    assert {"storage.sh", "kvm-host.sh", "cluster.sh", "common.sh"} <= names


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_provisioning_script_parses(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_provisioning_script_is_strict(script: Path) -> None:
    # Scripts that run (not the sourced libraries) stop at the first failing command.
    text = script.read_text()
    if text.startswith("#!"):
        assert "\nset -euo pipefail\n" in text, f"{script.name} lacks set -euo pipefail"


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_provisioning_scripts_pass_shellcheck() -> None:
    proc = subprocess.run(
        ["shellcheck", "-x", "-P", "SCRIPTDIR", *map(str, SCRIPTS)],
        cwd=PROVISION,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_file_helpers_change_only_what_differs(tmp_path: Path) -> None:
    conf, hosts = tmp_path / "qemu.conf", tmp_path / "hosts"
    conf.write_text('#lock_manager = "lockd"\nlock_manager = "sanlock"\nuser = "x"\n')
    hosts.write_text("127.0.0.1 localhost\n")
    script = f"""
        changes=""
        for round in 1 2; do
            set_conf_line {conf} lock_manager '"lockd"' && changes+=c$round
            echo "a b" | write_managed_block {hosts} 0644 && changes+=h$round
            echo same | install_file {tmp_path}/f 0600 && changes+=f$round
        done
        echo "$changes"
    """
    proc = _bash(script, {})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[-1] == "c1h1f1"  # the second round changed nothing
    assert conf.read_text() == '#lock_manager = "lockd"\nuser = "x"\nlock_manager = "lockd"\n'
    assert hosts.read_text() == (
        "127.0.0.1 localhost\n# havirt-vagrant begin\na b\n# havirt-vagrant end\n"
    )
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


@pytest.mark.skipif(not shutil.which("virsh"), reason="virsh not installed")
def test_virsh_info_reads_one_field() -> None:
    # libvirt's test driver: no daemon involved.
    script = """
        echo "$(virsh_info net default Active)|$(virsh_info pool default-pool State)"
        echo "[$(virsh_info pool no-such-pool Name)]"
    """
    proc = _bash(script, {"LIBVIRT_DEFAULT_URI": "test:///default"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["yes|running", "[]"]


# -- the Vagrantfile -------------------------------------------------------------------


@pytest.fixture(scope="module")
def vagrant(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Skips unless vagrant and its libvirt provider are installed."""
    if not shutil.which("vagrant"):
        pytest.skip("vagrant not installed (apt-get install vagrant vagrant-libvirt)")
    plugins = subprocess.run(
        ["vagrant", "plugin", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "VAGRANT_HOME": str(tmp_path_factory.mktemp("vagrant.d")),
            "VAGRANT_CHECKPOINT_DISABLE": "1",
        },
    )
    if "vagrant-libvirt" not in plugins.stdout:
        pytest.skip("the vagrant-libvirt plugin is not installed (apt-get install vagrant-libvirt)")


@pytest.fixture
def lab_copy(tmp_path: Path) -> Path:
    """vagrant/ without anyone's local settings, state or keys."""
    copy = tmp_path / "repo" / "vagrant"
    shutil.copytree(
        LAB,
        copy,
        ignore=shutil.ignore_patterns(".vagrant", ".cluster", ".wheels", "settings.local.env"),
    )
    # The checkout's venv: on a host without a libvirtd of its own, the Vagrantfile asks
    # `havirt lab vagrant-host` where the namespace outer host's libvirtd is.
    (tmp_path / "repo" / ".venv").symlink_to(REPO / ".venv")
    return copy


def _validate(lab: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HAVIRT_VAGRANT_")}
    return subprocess.run(
        ["vagrant", "validate"],
        cwd=lab,
        env={
            **clean,
            "VAGRANT_HOME": str(tmp_path / "vagrant.d"),
            "VAGRANT_DOTFILE_PATH": str(tmp_path / "dot-vagrant"),
            "VAGRANT_CHECKPOINT_DISABLE": "1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_vagrant_validate_passes(vagrant: None, lab_copy: Path, tmp_path: Path) -> None:
    proc = _validate(lab_copy, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "validated successfully" in proc.stdout
    assert not (lab_copy / ".cluster").exists(), "validate must not run the key trigger"


def test_vagrant_validate_passes_with_other_sizes(
    vagrant: None, lab_copy: Path, tmp_path: Path
) -> None:
    (lab_copy / "settings.local.env").write_text(
        "# bigger hosts\nHAVIRT_VAGRANT_HV_MEMORY=4096\nHAVIRT_VAGRANT_HV_CPUS='4'\n"
    )
    proc = _validate(lab_copy, tmp_path, HAVIRT_VAGRANT_CLUSTER_NET="10.77.0")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("env", "local", "message"),
    [
        ({"HAVIRT_VAGRANT_HV_MEMORY": "lots"}, None, "HAVIRT_VAGRANT_HV_MEMORY"),
        ({"HAVIRT_VAGRANT_CLUSTER_NET": "10.0.0.0/24"}, None, "HAVIRT_VAGRANT_CLUSTER_NET"),
        ({"HAVIRT_VAGRANT_GUEST_NETWORK_MODE": "nat"}, None, "isolated or bridge"),
        ({"HAVIRT_VAGRANT_DRIVER": "fast"}, None, "expected auto, kvm, qemu"),
        ({"HAVIRT_VAGRANT_OUTER_HOST": "cloud"}, None, "expected auto, system, namespace"),
        ({"HAVIRT_VAGRANT_COROSYNC_TOKEN": "10"}, None, "a duration like 10s"),
        ({"HAVIRT_VAGRANT_LOAD_THRESHOLD": "400"}, None, "a percentage like 400%"),
        ({"HAVIRT_VAGRANT_HV_CPUS": "0"}, None, "auto or a positive whole number"),
        ({"HAVIRT_VAGRANT_HV_CPUS2": "4"}, None, "unknown settings in the environment"),
        ({}, "HAVIRT_VAGRANT_NODES=5\n", "settings.local.env: unknown settings"),
        ({}, "just words\n", "expected NAME=value"),
    ],
    ids=[
        "not-a-number",
        "not-a-prefix",
        "bad-mode",
        "bad-driver",
        "bad-outer-host",
        "bad-token",
        "bad-load-threshold",
        "zero-cpus",
        "unknown-env",
        "unknown-local",
        "garbage",
    ],
)
def test_vagrant_validate_names_a_bad_setting(
    vagrant: None,
    lab_copy: Path,
    tmp_path: Path,
    env: dict[str, str],
    local: str | None,
    message: str,
) -> None:
    if local is not None:
        (lab_copy / "settings.local.env").write_text(local)
    proc = _validate(lab_copy, tmp_path, **env)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr


# -- key material (runs on the outer host) ----------------------------------------------


@pytest.mark.skipif(not shutil.which("ssh-keygen"), reason="ssh-keygen not installed")
def test_cluster_keys_are_made_once(tmp_path: Path) -> None:
    outer_key = tmp_path / "outer.pub"
    outer_key.write_text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOuterKey root@outer\n")
    keys = tmp_path / "cluster"
    argv = ["bash", str(PROVISION / "cluster-keys.sh"), str(keys), str(outer_key), "alice"]
    first = subprocess.run([*argv, "hv1", "hv2"], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "~alice/.ssh/authorized_keys" in first.stdout  # how to authorize the fence key
    files = {p.relative_to(keys).as_posix(): p.read_bytes() for p in keys.rglob("*") if p.is_file()}
    for name in ["fence_key", "corosync-authkey", "hv1/id_ed25519", "hv2/ssh_host_ed25519_key"]:
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600, name
    assert len(files["corosync-authkey"]) == 256
    assert (
        keys / "outer_host_key.pub"
    ).read_text() == "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOuterKey\n"

    again = subprocess.run([*argv, "hv1", "hv2"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert {
        p.relative_to(keys).as_posix(): p.read_bytes() for p in keys.rglob("*") if p.is_file()
    } == files

    outer_key.unlink()
    missing = subprocess.run([*argv, "hv1", "hv2"], capture_output=True, text=True, timeout=60)
    assert missing.returncode == 0
    assert "cannot read the outer host's SSH host key" in missing.stderr
    assert not (keys / "outer_host_key.pub").exists()


# -- the inventory -----------------------------------------------------------------------


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    out = tmp_path / "inventory.toml"
    proc = _bash(f"render_inventory {LAB}/inventory.toml.in {out}", _provision_env())
    assert proc.returncode == 0, proc.stderr
    return out


def test_inventory_renders_for_the_default_settings(inventory: Path) -> None:
    from havirt.tools.inventory import check_file

    assert not re.search(r"@[A-Z_]+@", inventory.read_text())
    checked = check_file(str(inventory))  # havirt's own loader: every rule, with lines
    assert checked.problems == [], [str(p) for p in checked.problems]
    inv = checked.inventory
    settings = _settings()
    net, prefix = settings["HAVIRT_VAGRANT_CLUSTER_NET"], settings["HAVIRT_VAGRANT_PREFIX"]
    offered = (int(settings["HAVIRT_VAGRANT_HV_MEMORY"]) - 1024) * 2**20  # HOST_RESERVED_MIB
    assert [(n.name, [str(a) for a in n.addresses]) for n in inv.nodes] == [
        ("hv1", [f"{net}.11/24"]),
        ("hv2", [f"{net}.12/24"]),
        ("hv3", [f"{net}.13/24"]),
    ]
    for node in inv.nodes:
        assert (node.memory, node.vcpus) == (
            offered,
            int(_provision_env()["HAVIRT_VAGRANT_HV_CPUS"]),
        )
        assert node.fence.agent == "fence_havirt"
        assert node.fence.options == {
            "uri": f"qemu+ssh://labuser@{net}.1/system",
            "plug": f"{prefix}{node.name}",
            "identity_file": "/root/.ssh/havirt_fence",  # kvm-host.sh installs it there
            "login_timeout": "30",  # its SSH login to the outer host, slow under TCG
        }
    [storage] = inv.storage
    assert (storage.type, storage.server, storage.clustered) == ("nfs", f"{net}.10", True)
    assert {g.name: g.config for g in inv.guests} == {
        name: f"/var/lib/libvirt/shared/guests/{name}/domain.xml" for name in ("vm1", "vm2")
    }


def test_fence_options_are_fence_havirts_own() -> None:
    # Options are passed on unchecked by the inventory: a misspelt one would only show
    # when the fence device runs, in the lab.
    from havirt.agents.fence_havirt import OPTIONS
    from havirt.ocf.fencing import COMMON_OPTIONS

    known = {option.name for option in (*COMMON_OPTIONS, *OPTIONS)}
    template = (LAB / "inventory.toml.in").read_text()
    for options in re.findall(r"options = \{([^}]*)\}", template):
        used = set(re.findall(r"(\w+) = ", options))
        assert used and used <= known, used - known


def test_inventory_needs_memory_left_for_guests(tmp_path: Path) -> None:
    env = {**_provision_env(), "HAVIRT_VAGRANT_HV_MEMORY": "1024"}
    proc = _bash(f"render_inventory {LAB}/inventory.toml.in {tmp_path}/out.toml", env)
    assert proc.returncode != 0
    assert "HAVIRT_VAGRANT_HV_MEMORY=1024 leaves no memory for guests" in proc.stderr
    assert not (tmp_path / "out.toml").exists()


def test_inventory_refuses_an_unknown_placeholder(tmp_path: Path) -> None:
    template = tmp_path / "t.toml.in"
    template.write_text('name = "@NOT_A_SETTING@"\n')
    proc = _bash(f"render_inventory {template} {tmp_path}/out.toml", _provision_env())
    assert proc.returncode != 0
    assert "@NOT_A_SETTING@" in proc.stderr
    assert not (tmp_path / "out.toml").exists()


def test_havirt_calls_as_documented(tmp_path: Path) -> None:
    # The invocations of docs/generate.md (and `havirt validate`'s, docs/vagrant-lab.md).
    fake = tmp_path / "havirt"
    fake.write_text('#!/bin/sh\necho "havirt $*"\n[ "$1" != apply ]\n')  # apply fails
    fake.chmod(0o755)
    script = f"""
        source {PROVISION}/havirt-calls.sh
        havirt_validate /etc/havirt/inventory.toml
        havirt_generate /etc/havirt/inventory.toml {tmp_path}/out
        havirt_apply /etc/havirt/inventory.toml {tmp_path}/out
        echo not reached
    """
    proc = _bash(script, {"HAVIRT": str(fake)})
    assert proc.stdout.splitlines() == [
        "havirt validate --inventory /etc/havirt/inventory.toml",
        f"havirt generate /etc/havirt/inventory.toml -o {tmp_path}/out",
        f"havirt generate /etc/havirt/inventory.toml -o {tmp_path}/out --diff",
        f"havirt apply {tmp_path}/out",
    ]
    assert proc.returncode != 0  # a failing call stops the provisioning


def _needs_havirt_command(command: str) -> None:
    """Skips until the havirt CLI has COMMAND (written concurrently with this lab)."""
    if not HAVIRT.exists():
        pytest.skip(f"{HAVIRT} not found")
    proc = subprocess.run([HAVIRT, command, "--help"], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        pytest.skip(f"`havirt {command}` does not exist yet")


def _generate_lab_configuration(tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """cluster.sh's and kvm-host.sh's own step, with the layout's paths moved to tmp_path."""
    out = tmp_path / "generated"
    script = f"""
        source {PROVISION}/havirt-calls.sh
        INVENTORY={tmp_path}/inventory.toml GENERATED={out}
        generate_lab_configuration
        # what kvm-host.sh and cluster.sh read from it:
        for node in "${{KVM_HOSTS[@]}}"; do
            ls "$GENERATED/corosync.conf" "$GENERATED/nodes/$node/pools/$POOL_NAME.xml" \\
                "$GENERATED/nodes/$node/networks/$GUEST_NETWORK.xml"
        done
    """
    env = {**_provision_env(), "HAVIRT": str(HAVIRT)}
    return _bash(script, env, timeout=120), out


def test_havirt_generate_accepts_the_lab_inventory(tmp_path: Path) -> None:
    _needs_havirt_command("generate")
    proc, out = _generate_lab_configuration(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if shutil.which("crm_verify"):
        from havirt.tools.pacemaker import Pacemaker

        verdict = Pacemaker().verify(str(out / "cib.xml"))
        assert verdict.ok and verdict.errors == (), verdict
    again, _ = _generate_lab_configuration(tmp_path)  # every provisioning run does it again
    assert again.returncode == 0, again.stdout + again.stderr
    assert "0 written" in again.stdout


def test_provisioning_pushes_the_lab_cib_once(tmp_path: Path) -> None:
    # cluster.sh's havirt_apply, on a file-backed CIB standing in for the new cluster's:
    # the first run pushes everything, a rerun of the provisioning pushes nothing.
    _needs_havirt_command("apply")
    for tool in ("cibadmin", "crm_verify", "crm_diff", "pcs"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (pacemaker-cli-utils, pcs)")
    proc, out = _generate_lab_configuration(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    live = tmp_path / "cib.xml"
    empty = subprocess.run(["cibadmin", "--empty"], capture_output=True, text=True, timeout=60)
    live.write_text(empty.stdout)
    env = {**_provision_env(), "HAVIRT": str(HAVIRT), "CIB_file": str(live)}
    apply = f"source {PROVISION}/havirt-calls.sh; havirt_apply {tmp_path}/inventory.toml {out}"

    first = _bash(apply, env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pushed" in first.stdout and "one transaction" in first.stdout
    from lxml import etree

    cib = etree.parse(str(live)).getroot()
    assert {p.get("id") for p in cib.iterfind(".//primitive")} == {
        "fence-hv1", "fence-hv2", "fence-hv3", "pool-shared", "vm1", "vm2"
    }  # fmt: skip
    plug = cib.find(".//primitive[@id='fence-hv2']//nvpair[@name='plug']")
    assert plug.get("value") == f"{_settings()['HAVIRT_VAGRANT_PREFIX']}hv2"

    second = _bash(apply, env, timeout=300)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "nothing to push" in second.stdout


def test_havirt_validate_takes_the_lab_inventory_option() -> None:
    _needs_havirt_command("validate")
    proc = subprocess.run(
        [HAVIRT, "validate", "--help"], capture_output=True, text=True, timeout=60
    )
    assert "--inventory" in proc.stdout, "provision/havirt-calls.sh passes --inventory"
    assert "--timeout" in proc.stdout, "provision/havirt-calls.sh passes --timeout under TCG"


# -- the test guests -------------------------------------------------------------------


def _make_guests_module():
    spec = importlib.util.spec_from_file_location("make_guests", PROVISION / "make_guests.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lab_guest_xml_gets_kvm_vcpus_and_a_bridged_nic(tmp_path: Path) -> None:
    from havirt.tools.lab.guest_image import GuestAssets, domain_xml
    from lxml import etree

    make_guests = _make_guests_module()
    assets = GuestAssets(tmp_path / "vmlinuz", tmp_path / "initrd.gz", "6.1.0-x", "linux-image")
    base = domain_xml(
        name="vm1",
        uuid="6f1c7f8e-52a5-4d0e-9d7e-3f2c54a0a001",
        assets=assets,
        disk="/shared/vm1.qcow2",
        console_log="/shared/vm1.log",
    )
    xml = make_guests.lab_domain_xml(
        base, vcpus=2, mac="52:54:00:a7:7d:65", network="guests", kvm=True
    )
    domain = etree.fromstring(xml.encode())
    assert domain.get("type") == "kvm"
    assert domain.findtext("vcpu") == "2"
    nic = domain.find("devices/interface")
    assert nic.get("type") == "network"
    assert nic.find("mac").get("address") == "52:54:00:a7:7d:65"
    assert nic.find("source").get("network") == "guests"
    tcg = make_guests.lab_domain_xml(base, vcpus=1, mac="52:54:00:a7:7d:66", network="g", kvm=False)
    assert etree.fromstring(tcg.encode()).get("type") == "qemu"


@pytest.mark.skipif(not shutil.which("qemu-img"), reason="qemu-img not installed")
def test_make_guests_writes_each_guest_from_the_inventory(inventory: Path, tmp_path: Path) -> None:
    import dataclasses

    from havirt.tools.inventory import load
    from havirt.tools.lab.guest_image import GuestAssets
    from lxml import etree

    make_guests = _make_guests_module()
    built = []

    def assets(folder: Path) -> GuestAssets:  # the real build downloads a kernel package
        built.append(folder)
        return GuestAssets(folder / "vmlinuz", folder / "initrd.gz", "6.1.0-x", "linux-image")

    guest = load(str(inventory)).guests[0]
    # The inventory's path on the shared pool, moved under tmp_path.
    moved = dataclasses.replace(guest, config=f"{tmp_path}{guest.config}")
    assert make_guests.make_guest(moved, kvm=True, build_assets=assets)
    folder = Path(moved.config).parent
    assert built == [folder.parent / ".assets"]
    assert sorted(p.name for p in folder.iterdir()) == ["console.log", "disk.qcow2", "domain.xml"]
    domain = etree.parse(moved.config).getroot()
    assert domain.findtext("name") == guest.name
    assert domain.find("memory").get("unit") == "MiB"
    assert int(domain.findtext("memory")) == guest.memory_mib
    assert domain.find("devices/interface/mac").get("address") == guest.mac
    assert domain.find("devices/interface/source").get("network") == guest.network
    assert domain.find("devices/disk/source").get("file") == str(folder / "disk.qcow2")
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", folder / "disk.qcow2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f'"virtual-size": {guest.disk.size}' in info.stdout
    assert not make_guests.make_guest(moved, kvm=True, build_assets=assets)  # exists: left alone


def test_make_guests_copies_the_box_s_guest_assets_once(tmp_path: Path) -> None:
    make_guests = _make_guests_module()
    prebuilt = tmp_path / "box-cache"
    (prebuilt / "modules").mkdir(parents=True)
    (prebuilt / "assets.json").write_text("{}")
    (prebuilt / "modules" / "order").write_text("")
    (prebuilt / ".lock").write_text("")
    shared = tmp_path / "pool" / ".assets"
    shared.parent.mkdir()
    checked = []
    make_guests.shared_assets(shared, prebuilt, check=checked.append)  # would check, rebuild
    assert sorted(p.name for p in shared.iterdir()) == ["assets.json", "modules"]
    assert checked == [shared]
    (shared / "assets.json").write_text('{"kept": 1}')
    make_guests.shared_assets(shared, prebuilt, check=checked.append)  # there: not copied
    assert (shared / "assets.json").read_text() == '{"kept": 1}'
