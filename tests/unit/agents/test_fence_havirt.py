"""fence_havirt: its URI rules, and its callbacks with a fake at the libvirt boundary seam."""

from __future__ import annotations

import io

import pytest
from fakes.libvirt import FakeDomain, FakeHypervisor
from havirt.agents import fence_havirt as fh
from havirt.agents.fence_havirt import FenceHavirt, connection_uri, looks_like_uuid
from havirt.agents.libvirt import boundary as lb
from havirt.ocf import fencing
from havirt.ocf.fencing import EXIT_ERROR, EXIT_OFF, EXIT_OK, FenceError
from havirt.ocf.params import Params
from vd_fakes import FakeClock, FakeHost

UUID = "6f1b8c2e-52a4-4d3e-9a0b-0123456789ab"


def opts(**values) -> Params:
    base = {"uri": None, "ip": None, "ipport": None, "username": None}
    base.update(identity_file=None, known_hosts=None)
    base.update(values)
    return Params(base)


# -- the URI --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"uri": "qemu:///system"}, "qemu:///system"),
        ({"uri": "qemu+tcp://10.0.0.1/system"}, "qemu+tcp://10.0.0.1/system"),
        ({"uri": "qemu+tls://hv1/system"}, "qemu+tls://hv1/system"),
        # ssh's BatchMode: it must never ask about a host key or for a password
        ({"uri": "qemu+ssh://root@hv1/system"}, "qemu+ssh://root@hv1/system?no_tty=1"),
        (
            {"uri": "qemu+ssh://hv1/system?no_tty=1&socket=/run/x"},
            "qemu+ssh://hv1/system?no_tty=1&socket=/run/x",
        ),
        ({"ip": "hv1"}, "qemu+ssh://hv1/system?no_tty=1"),
        (
            {"ip": "192.0.2.7", "username": "fence", "ipport": 2222},
            "qemu+ssh://fence@192.0.2.7:2222/system?no_tty=1",
        ),
        ({"ip": "2001:db8::7"}, "qemu+ssh://[2001:db8::7]/system?no_tty=1"),
        (
            {"uri": "qemu+ssh://hv1/system", "identity_file": "/etc/havirt/fence key"},
            "qemu+ssh://hv1/system?no_tty=1&keyfile=/etc/havirt/fence%20key",
        ),
        (
            {
                "uri": "qemu+libssh://hv1/system",
                "identity_file": "/k/id",
                "known_hosts": "/k/known_hosts",
            },
            "qemu+libssh://hv1/system?keyfile=/k/id&known_hosts=/k/known_hosts",
        ),
        (
            {"uri": "qemu+libssh2://hv1/system?known_hosts_verify=normal"},
            "qemu+libssh2://hv1/system?known_hosts_verify=normal",
        ),
    ],
)
def test_connection_uri(given, expected) -> None:
    assert connection_uri(opts(**given)) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({}, "no hypervisor given: set uri=qemu+ssh://root@HOST/system"),
        ({"uri": "qemu:///system", "ip": "hv1"}, "give either uri or ip, not both"),
        ({"uri": "qemu:///system", "ipport": 22}, "ipport applies only with ip"),
        ({"ip": "root@hv1"}, "option ip: 'root@hv1' is not a host name or address"),
        ({"uri": "hv1"}, "option uri: 'hv1' is not a libvirt URI"),
        ({"uri": "qemu+pigeon://hv1/system"}, "unknown transport 'pigeon'"),
        ({"uri": "qemu+ssh://hv1/system?no_verify=1"}, "no_verify turns the SSH host key check"),
        (
            {"uri": "qemu+libssh://hv1/system?known_hosts_verify=ignore"},
            "known_hosts_verify=ignore does not check",
        ),
        (
            {"uri": "qemu+libssh2://hv1/system?known_hosts_verify=auto"},
            "known_hosts_verify=auto does not check",
        ),
        ({"uri": "qemu+ssh://hv1/system?no_tty=0"}, "no_tty must stay 1"),
        ({"uri": "qemu+ssh://root:pw@hv1/system"}, "it carries a password (user:password@)"),
        (
            {"uri": "qemu+ssh://hv1/system", "known_hosts": "/k/kh"},
            "qemu+ssh runs OpenSSH, which reads its own known_hosts",
        ),
        (
            {"uri": "qemu+ssh://hv1/system?keyfile=/a", "identity_file": "/b"},
            "the uri already sets keyfile=",
        ),
        (
            {"uri": "qemu+tcp://hv1/system", "identity_file": "/k/id"},
            "option identity_file applies only to SSH transports",
        ),
        (
            {"uri": "qemu:///system", "known_hosts": "/k/kh"},
            "not to 'local'",
        ),
    ],
)
def test_connection_uri_refuses(given, message) -> None:
    with pytest.raises(FenceError) as info:
        connection_uri(opts(**given))
    assert message in str(info.value)


def test_looks_like_uuid() -> None:
    assert looks_like_uuid(UUID)
    assert looks_like_uuid(UUID.replace("-", "").upper())
    assert not looks_like_uuid("node1")
    assert not looks_like_uuid(UUID[:-1] + "g")
    assert not looks_like_uuid("6f1b8c2e52a4-4d3e-9a0b-0123456789ab-")


# -- callbacks, with a fake at the boundary ------------------------------------------------


class FenceLab:
    """The hypervisor fence_havirt reaches: the one fake libvirt (``libvirt``), opened
    through this lab as the agent's hypervisor factory, which records each opening."""

    def __init__(self) -> None:
        self.libvirt = FakeHypervisor()
        self.made: list[dict] = []

    def __call__(self, uri, deadline, budget=None, credentials=None, connect_timeout=None):
        self.made.append(
            {"uri": uri, "credentials": credentials, "connect_timeout": connect_timeout}
        )
        return self.libvirt

    def add(self, name: str, uuid: str = UUID, state: str = "running") -> FakeDomain:
        """A defined guest (a cluster node) in this state."""
        reason = "booted" if state == "running" else "destroyed"
        return self.libvirt.add(name, uuid, (state, reason), persistent=True)

    @property
    def calls(self) -> list[tuple]:
        return self.libvirt.calls

    @property
    def doms(self) -> dict[str, FakeDomain]:
        return {dom.name: dom for dom in self.libvirt.guests}


@pytest.fixture
def hv() -> FenceLab:
    return FenceLab()


def agent(hv: FenceLab, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """Run fence_havirt with ``args`` (or ``stdin``) on a fake host (its clock and
    programs) and the fake libvirt ``hv``."""
    out, err = io.StringIO(), io.StringIO()
    rc = fencing.run(
        FenceHavirt(hypervisor=hv),
        ["fence_havirt", *args],
        stdin=io.StringIO(stdin),
        stdout=out,
        stderr=err,
        host=FakeHost(FakeClock()),
    )
    return rc, out.getvalue(), err.getvalue()


URI = "qemu+tcp://192.0.2.1/system"


@pytest.mark.parametrize(
    ("state", "rc", "line"),
    [
        ("running", EXIT_OK, "Status: ON"),
        ("paused", EXIT_OK, "Status: ON"),
        ("blocked", EXIT_OK, "Status: ON"),
        ("shutdown", EXIT_OK, "Status: ON"),  # shutting down: QEMU still runs
        ("crashed", EXIT_OK, "Status: ON"),  # kept for a dump: memory and disks still held
        ("pmsuspended", EXIT_OK, "Status: ON"),
        ("nostate", EXIT_OK, "Status: ON"),
        ("shutoff", EXIT_OFF, "Status: OFF"),
    ],
)
def test_status_from_the_domain_state(hv: FenceLab, state: str, rc: int, line: str) -> None:
    hv.add("node1", state=state)
    assert agent(hv, "-o", "status", "-n", "node1", f"--uri={URI}")[:2] == (rc, line + "\n")


def test_a_uuid_plug_is_looked_up_by_uuid(hv: FenceLab) -> None:
    hv.add("node1")
    rc, out, _ = agent(hv, stdin=f"action=status\nplug={UUID}\nuri={URI}\n")
    assert (rc, out) == (EXIT_OK, "Status: ON\n")
    assert ("lookup", UUID, UUID) in hv.calls


def test_status_takes_the_fast_path_without_connecting_libvirt_python(hv: FenceLab) -> None:
    hv.add("node1")
    agent(hv, "-o", "status", "-n", "node1", f"--uri={URI}")
    assert ("connect",) not in hv.calls
    assert hv.made == [{"uri": URI, "credentials": None, "connect_timeout": 5.0}]


def test_off_destroys_hard_and_verifies(hv: FenceLab) -> None:
    hv.add("node1")
    rc, out, err = agent(hv, stdin=f"action=off\nplug=node1\nuri={URI}\n")
    assert (rc, out) == (EXIT_OK, "Success: Powered OFF\n"), err
    assert ("destroy", "node1") in hv.calls
    assert hv.calls[0] == ("connect",) and hv.calls[-1] == ("close",)
    assert hv.calls.index(("destroy", "node1")) < len(hv.calls) - 3  # then queried


def test_off_of_a_transient_domain_that_vanishes_with_its_destroy(hv: FenceLab) -> None:
    hv.add("node1").persistent = False
    rc, out, _ = agent(hv, "-o", "off", "-n", "node1", f"--uri={URI}")
    assert (rc, out) == (EXIT_OK, "Success: Powered OFF\n")


def test_on_starts_and_an_already_running_answer_is_not_a_failure(hv: FenceLab) -> None:
    hv.add("node1", state="shutoff")
    rc, out, _ = agent(hv, "-o", "on", "-n", "node1", f"--uri={URI}")
    assert (rc, out) == (EXIT_OK, "Success: Powered ON\n")
    dom = hv.doms["node1"]
    # Someone else started it between our query and our start: the query decides.
    dom.set_state("shutoff", "destroyed")
    dom.before["start"] = lambda dom: dom.set_state("running", "booted")
    rc, out, err = agent(hv, "-o", "on", "-n", "node1", f"--uri={URI}")
    assert (rc, out) == (EXIT_OK, "Success: Powered ON\n"), err
    assert "already running: checking its state" in err


def test_reboot_destroys_then_starts_after_seeing_shutoff(hv: FenceLab) -> None:
    hv.add("node1")
    rc, out, _ = agent(hv, "-o", "reboot", "-n", "node1", f"--uri={URI}")
    assert (rc, out) == (EXIT_OK, "Success: Rebooted\n")
    acts = [c for c in hv.calls if c[0] in ("destroy", "start", "state")]
    assert acts == [
        ("state", "node1"),
        ("destroy", "node1"),
        ("state", "node1"),
        ("start", "node1"),
        ("state", "node1"),
    ]


def test_an_unknown_plug_fails_unless_missing_as_off(hv: FenceLab) -> None:
    hv.add("node1")
    rc, _, err = agent(hv, "-o", "off", "-n", "node9", f"--uri={URI}")
    assert rc == EXIT_ERROR
    assert f"the hypervisor at {URI} has no domain named 'node9'" in err
    assert "'fence_havirt -o list' shows them" in err
    assert not any(c[0] == "destroy" for c in hv.calls)
    rc, out, _ = agent(hv, "-o", "off", "-n", "node9", f"--uri={URI}", "--missing-as-off")
    assert (rc, out) == (EXIT_OK, "Success: Already OFF\n")


def test_an_unreachable_hypervisor_fails_with_its_uri_and_libvirts_reason(hv: FenceLab) -> None:
    hv.libvirt.unavailable = lb.HypervisorUnavailable(
        "connect: unable to connect to server at '192.0.2.1:16509': No route to host", 38
    )
    for action in ("off", "status", "list", "monitor"):
        rc, _, err = agent(hv, "-o", action, "-n", "node1", f"--uri={URI}")
        assert rc == EXIT_ERROR, action
        assert f"cannot reach libvirt at {URI}: connect: unable to connect" in err


def test_a_libvirt_error_on_destroy_fails_the_off(hv: FenceLab) -> None:
    hv.add("node1")
    hv.doms["node1"].destroy_error = lb.HypervisorError(
        "destroy: Failed to terminate process 42", 1
    )
    rc, _, err = agent(hv, "-o", "off", "-n", "node1", f"--uri={URI}")
    assert rc == EXIT_ERROR
    assert f"libvirt at {URI} failed to destroy node1: destroy: Failed to terminate" in err


def test_list_and_list_status(hv: FenceLab) -> None:
    hv.add("node2", uuid="0b6c7f54-1111-4222-8333-444455556666", state="shutoff")
    hv.add("node1")
    rc, out, _ = agent(hv, "-o", "list", f"--uri={URI}")
    assert (rc, out.splitlines()) == (
        EXIT_OK,
        [f"node1,{UUID}", "node2,0b6c7f54-1111-4222-8333-444455556666"],
    )
    rc, out, _ = agent(hv, "-o", "list-status", f"--uri={URI}")
    assert out.splitlines()[1].endswith(",OFF")
    rc, out, _ = agent(hv, "-o", "monitor", f"--uri={URI}")
    assert (rc, out) == (EXIT_OK, "")


def test_a_password_becomes_credentials_with_the_username(hv: FenceLab, tmp_path) -> None:
    hv.add("node1")
    secret = tmp_path / "pw"
    secret.write_text("sasl-secret\n")
    rc, _, _ = agent(
        hv,
        "-o",
        "status",
        "-n",
        "node1",
        f"--uri={URI}",
        "-l",
        "fence",
        f"--password-file={secret}",
    )
    assert rc == EXIT_OK
    creds = hv.made[0]["credentials"]
    assert (creds.username, creds.password) == ("fence", "sasl-secret")
    assert "sasl-secret" not in repr(creds)


def test_validate_all_checks_the_uri_and_key_files_without_connecting(hv, tmp_path) -> None:
    key = tmp_path / "id"
    key.write_text("key")
    assert agent(hv, "-o", "validate-all", "--uri=qemu+ssh://hv/system", f"-k{key}")[0] == EXIT_OK
    rc, _, err = agent(hv, "-o", "validate-all", "--uri=qemu+ssh://hv/system", f"-k{tmp_path}/x")
    assert rc == EXIT_ERROR and "does not exist or cannot be read" in err
    rc, _, err = agent(hv, "-o", "validate-all", "--uri=qemu+ssh://hv/system?no_verify=1")
    assert rc == EXIT_ERROR and "no_verify" in err
    rc, _, err = agent(hv, "-o", "validate-all", "-k", "relative/key", "--ip=hv")
    assert rc == EXIT_ERROR and "'relative/key' must be an absolute path" in err
    assert hv.made == []


def test_fh_module_exports() -> None:
    assert fh.OPTIONS and FenceHavirt.option_table().by_name["uri"]
