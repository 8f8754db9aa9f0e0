"""The boundary's own logic, with libvirt's connection and domain objects faked.

The boundary against a real libvirt (its built-in test driver, libvirt.so.0 through
ctypes) is tested in tests/contract/test_libvirt_boundary_on_libvirt.py."""

from __future__ import annotations

import threading

import pytest
from havirt.agents.guest.domain_state import DomainState
from havirt.agents.libvirt import boundary as lb
from havirt.ocf.environment import Deadline

libvirt = pytest.importorskip("libvirt", reason="libvirt-python is not installed")

UUID = "6f1b8c2e-52a4-4d3e-9a0b-0123456789ab"


def libvirt_error(code: int, message: str) -> libvirt.libvirtError:
    exc = libvirt.libvirtError(message)
    exc.err = (code, 0, message, 2, "", None, None, -1, -1)
    return exc


class RawDomain:
    def __init__(self, state=(libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED)):
        self._state = list(state)
        self.shutdown_flags: list[int] = []

    def name(self):
        return "vm1"

    def UUIDString(self):
        return UUID

    def state(self):
        return self._state

    def shutdownFlags(self, flags):
        self.shutdown_flags.append(flags)

    def info(self):
        return [1, 2097152, 2097152, 4, 123]


class RawConnection:
    def __init__(self, domains=None, error=None):
        self.domains = domains or {}
        self.error = error

    def lookupByUUIDString(self, uuid):
        if self.error:
            raise self.error
        if uuid in self.domains:
            return self.domains[uuid]
        raise libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, f"Domain not found: {uuid}")

    def lookupByName(self, name):
        if self.error:
            raise self.error
        for dom in self.domains.values():
            if dom.name() == name:
                return dom
        raise libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, f"Domain not found: '{name}'")

    def getURI(self):
        return "qemu:///system"


def frozen() -> float:
    """The deadlines' clock: it never moves (calls are bounded in real time by threads)."""
    return 0.0


def hypervisor(conn, seconds: float = 5.0) -> lb.Hypervisor:
    hv = lb.Hypervisor("qemu:///system", Deadline(seconds, frozen))
    hv._conn = conn  # connected already: no libvirtd needed
    return hv


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ((libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED), ("running", "booted")),
        ((libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR), ("paused", "ioerror")),
        (
            (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED),
            ("paused", "postcopy_failed"),
        ),
        (
            (libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED),
            ("shutoff", "destroyed"),
        ),
        (
            (libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED),
            ("crashed", "panicked"),
        ),
        ((libvirt.VIR_DOMAIN_PAUSED, 99), ("paused", "reason99")),
        ((42, 0), ("state42", "reason0")),
    ],
)
def test_state_names(raw, expected):
    hv = hypervisor(RawConnection({UUID: RawDomain(raw)}))
    dom = hv.lookup(uuid=UUID)
    assert dom is not None and dom.name == "vm1" and dom.uuid == UUID
    assert dom.state() == DomainState(*expected)


def test_lookup_prefers_the_uuid_and_falls_back_to_the_name():
    raw = RawDomain()
    hv = hypervisor(RawConnection({UUID: raw}))
    assert hv.lookup(name="other", uuid=UUID)._dom is raw
    assert hv.lookup(name="vm1", uuid="00000000-0000-0000-0000-000000000000")._dom is raw
    assert hv.lookup(name="nope") is None
    assert hv.lookup() is None


def test_unreachable_daemon_is_hypervisor_unavailable():
    error = libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR, "Cannot recv data: Connection reset")
    hv = hypervisor(RawConnection(error=error))
    with pytest.raises(lb.HypervisorUnavailable) as info:
        hv.lookup(name="vm1")
    assert "lookup" in str(info.value) and "Connection reset" in str(info.value)


def test_other_errors_are_hypervisor_errors_with_the_code():
    error = libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: boom")
    hv = hypervisor(RawConnection(error=error))
    with pytest.raises(lb.HypervisorError) as info:
        hv.lookup(name="vm1")
    assert not isinstance(info.value, lb.HypervisorUnavailable)
    assert info.value.code == libvirt.VIR_ERR_INTERNAL_ERROR


def test_a_hung_call_times_out_at_the_deadline():
    release = threading.Event()
    hv = hypervisor(RawConnection(), seconds=0.2)
    try:
        with pytest.raises(lb.HypervisorTimeout, match="did not answer 'hang'"):
            hv.call(lambda: release.wait(5), "hang")
    finally:
        release.set()


def test_the_reserve_is_kept_back_from_calls():
    release = threading.Event()
    hv = lb.Hypervisor(None, Deadline(5.0, frozen), budget=4.8)
    hv._conn = RawConnection()
    try:
        with pytest.raises(lb.HypervisorTimeout):
            hv.call(lambda: release.wait(5), "hang")
    finally:
        release.set()


def test_shutdown_modes_become_flags():
    raw = RawDomain()
    dom = hypervisor(RawConnection({UUID: raw})).lookup(uuid=UUID)
    dom.shutdown(["acpi", "agent"])
    dom.shutdown([])
    assert raw.shutdown_flags == [
        libvirt.VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN | libvirt.VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
        0,
    ]


def test_vcpus_and_memory():
    dom = hypervisor(RawConnection({UUID: RawDomain()})).lookup(uuid=UUID)
    assert dom.vcpus_and_memory() == (4, 2097152)


def test_every_shutdown_mode_name_of_the_parameter_is_known():
    from havirt.agents.guest.params import SHUTDOWN_MODE_NAMES

    assert set(SHUTDOWN_MODE_NAMES) == set(lb.SHUTDOWN_MODE_FLAGS)


def test_every_migrate_switch_of_the_parameter_has_a_flag():
    from havirt.agents.guest.migration import FLAG_SWITCHES

    assert set(FLAG_SWITCHES) == set(lb.MIGRATE_FLAG_NAMES)


def test_ctypes_state_tables_match_libvirt_python():
    """libvirt_c hard-codes libvirt's public enums; they must agree with libvirt-python."""
    from havirt.agents.libvirt import c_api

    for code, state in c_api.STATE_NAMES.items():
        assert getattr(libvirt, f"VIR_DOMAIN_{state.upper()}") == code
        for reason, name in c_api.REASON_NAMES[code].items():
            constant = f"VIR_DOMAIN_{state.upper()}_{name.upper()}"
            if hasattr(libvirt, constant):  # newer reasons may postdate this libvirt-python
                assert getattr(libvirt, constant) == reason, constant
    for name in (
        "NO_DOMAIN",
        "SYSTEM_ERROR",
        "NO_CONNECT",
        "RPC",
        "AUTH_FAILED",
        "INVALID_CONN",
        "OPERATION_INVALID",
    ):
        assert getattr(c_api, f"ERR_{name}") == getattr(libvirt, f"VIR_ERR_{name}")


# -- what fence_havirt needs: credentials, listings, connect timeouts


def test_credentials_answer_only_a_user_name_and_a_password():
    creds = lb.Credentials("fence", "s3cret")
    asked = [
        [libvirt.VIR_CRED_AUTHNAME, "Username", None, "root", None],
        [libvirt.VIR_CRED_PASSPHRASE, "Password", None, None, None],
        [libvirt.VIR_CRED_NOECHOPROMPT, "Key passphrase", None, None, None],
    ]
    assert creds.answer(asked) == 0
    assert [c[4] for c in asked] == ["fence", "s3cret", "s3cret"]
    assert "s3cret" not in repr(creds)
    host_key = [[libvirt.VIR_CRED_ECHOPROMPT, "Accept SSH host key?", None, "n", None]]
    assert creds.answer(host_key) == -1
    assert host_key[0][4] is None
    explained = creds.explain(lb.HypervisorError("connect: authentication failed", 45))
    assert "'Accept SSH host key?'" in str(explained) and explained.code == 45


def test_credentials_without_a_password_refuse_a_password_question():
    creds = lb.Credentials(None, None)
    asked = [[libvirt.VIR_CRED_AUTHNAME, "Username", None, "root", None]]
    assert creds.answer(asked) == 0 and asked[0][4] == "root"  # libvirt's default
    assert creds.answer([[libvirt.VIR_CRED_PASSPHRASE, "Password", None, None, None]]) == -1
    assert "a password (Password)" in str(creds.explain(lb.HypervisorError("x", 45)))


class Opener:
    """libvirt-python as the boundary opens connections with it: its constants, and
    ``open``/``openAuth`` as given (unless given, the test fails when one is called)."""

    def __init__(self, opens=None, opens_with_auth=None) -> None:
        self.open = opens or (lambda uri: pytest.fail(f"open({uri!r})"))
        self.openAuth = opens_with_auth or (
            lambda uri, auth, flags: pytest.fail(f"openAuth({uri!r})")
        )

    def __getattr__(self, name: str):
        return getattr(libvirt, name)


def test_with_credentials_the_connection_goes_through_open_auth():
    seen = {}

    def open_auth(uri, auth, flags):
        kinds, callback, _ = auth
        cred = [libvirt.VIR_CRED_PASSPHRASE, "Password", None, None, None]
        seen.update(uri=uri, kinds=kinds, answered=callback([cred], None), value=cred[4])
        return RawConnection()

    hv = lb.Hypervisor(
        "qemu+tcp://hv/system",
        Deadline(5, frozen),
        credentials=lb.Credentials("u", "p"),
        libvirt_python=Opener(opens_with_auth=open_auth),
    )
    assert hv._connect_c() is False  # the C fast path has no auth callback
    hv.connect()
    assert seen["uri"] == "qemu+tcp://hv/system"
    assert libvirt.VIR_CRED_PASSPHRASE in seen["kinds"]
    assert (seen["answered"], seen["value"]) == (0, "p")


def test_a_refused_question_is_named_in_the_connection_error():
    def open_auth(uri, auth, flags):
        cred = [libvirt.VIR_CRED_ECHOPROMPT, "Accept host key?", None, None, None]
        auth[1]([cred], None)
        raise libvirt_error(libvirt.VIR_ERR_AUTH_FAILED, "authentication failed")

    hv = lb.Hypervisor(
        "qemu+libssh://hv/system",
        Deadline(5, frozen),
        credentials=lb.Credentials(),
        libvirt_python=Opener(opens_with_auth=open_auth),
    )
    with pytest.raises(lb.HypervisorUnavailable, match=r"'Accept host key\?'.*which was refused"):
        hv.connect()


def test_connecting_is_bounded_by_the_connect_timeout():
    release = threading.Event()
    hv = lb.Hypervisor(
        "qemu+tcp://hv/system",
        Deadline(30, frozen),
        connect_timeout=0.2,
        libvirt_python=Opener(opens=lambda uri: release.wait(5)),
    )
    try:
        with pytest.raises(lb.HypervisorTimeout, match=r"within 0\.2s"):
            hv.connect()
    finally:
        release.set()


def test_domains_list_names_uuids_and_states_in_one_call():
    class Stats(RawConnection):
        calls = 0

        def getAllDomainStats(self, stats, flags):
            assert stats == libvirt.VIR_DOMAIN_STATS_STATE
            Stats.calls += 1
            off = {"state.state": libvirt.VIR_DOMAIN_SHUTOFF, "state.reason": 2}
            return [(RawDomain(), {"state.state": 1, "state.reason": 1}), (RawDomain(), off)]

    hv = hypervisor(Stats())
    found = hv.domains()
    assert Stats.calls == 1
    assert found[0] == lb.DomainInfo("vm1", UUID, DomainState("running", "booted"))
    assert found[1].state == DomainState("shutoff", "destroyed")
