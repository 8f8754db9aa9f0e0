from __future__ import annotations

import pytest
from havirt.agents.guest.migration import (
    FLAG_SWITCHES,
    MigrateOptions,
    MigrationConfigError,
    Route,
    check_uri,
    migration_budget,
    parse_migrate_options,
    with_suffix,
)


def remote_uri(local: str, node: str, **route) -> str:
    return Route(**route).remote_uri(local, node)


def migrate_uri(local: str, node: str, **route) -> str | None:
    return Route(**route).data_uri(local, node)


# -- remote_uri


@pytest.mark.parametrize(
    ("local", "kwargs", "expected"),
    [
        ("qemu:///system", {}, "qemu://node2/system"),
        ("qemu:///system", {"transport": "ssh"}, "qemu+ssh://node2/system"),
        ("qemu:///system", {"transport": "tcp", "user": "virt"}, "qemu+tcp://virt@node2/system"),
        ("qemu:///session", {"transport": "ssh"}, "qemu+ssh://node2/session"),
        ("qemu://", {"transport": "ssh"}, "qemu+ssh://node2/system"),
        ("xen:///system", {"transport": "ssh"}, "xen+ssh://node2/system"),
        # the port and query of the local URI are kept; empty transport keeps the local one
        ("qemu+ssh://host:2222/system?x=y", {}, "qemu+ssh://node2:2222/system?x=y"),
        (
            "qemu+ssh://host:2222/system?x=y",
            {"transport": "tls"},
            "qemu+tls://node2:2222/system?x=y",
        ),
        (
            "qemu+ssh://root@host:2222/system?keyfile=/k",
            {"user": "virt"},
            "qemu+ssh://virt@node2:2222/system?keyfile=/k",
        ),
        # a local-only transport is not carried to another node
        ("qemu+unix:///system?socket=/run/x", {}, "qemu://node2/system?socket=/run/x"),
        (
            "qemu:///system",
            {"transport": "ssh", "network_suffix": "-mig"},
            "qemu+ssh://node2-mig/system",
        ),
    ],
)
def test_remote_uri(local, kwargs, expected):
    assert remote_uri(local, "node2", **kwargs) == expected


def test_remote_uri_inserts_the_suffix_before_the_first_dot_of_an_fqdn():
    uri = remote_uri(
        "qemu:///system", "node2.example.com", transport="ssh", user="virt", network_suffix="-mig"
    )
    assert uri == "qemu+ssh://virt@node2-mig.example.com/system"


def test_remoteuri_overrides_everything_and_expands_every_percent_n():
    uri = remote_uri(
        "qemu:///system",
        "node2",
        remoteuri="qemu+tls://%n.mgmt/system?name=%n",
        transport="ssh",
        user="virt",
        network_suffix="-mig",
    )
    assert uri == "qemu+tls://node2.mgmt/system?name=node2"


@pytest.mark.parametrize(
    ("node", "suffix", "expected"),
    [
        ("node2", "-mig", "node2-mig"),
        ("node2.example.com", "-mig", "node2-mig.example.com"),
        ("node2.a.b", "mig", "node2mig.a.b"),
        ("node2", "", "node2"),
        ("node2", None, "node2"),
    ],
)
def test_with_suffix(node, suffix, expected):
    assert with_suffix(node, suffix) == expected


# -- migrate_uri


def test_migrate_uri_is_none_when_nothing_asks_for_one():
    assert migrate_uri("qemu:///system", "node2") is None


def test_migrateuri_wins_over_everything():
    uri = migrate_uri(
        "qemu:///system",
        "node2",
        migrateuri="tcp://%n-fast:49200",
        options_uri="tcp://%n-opt:1",
        network_suffix="-mig",
        port=49152,
    )
    assert uri == "tcp://node2-fast:49200"


def test_migrateuri_from_options_wins_over_suffix_and_port():
    uri = migrate_uri(
        "qemu:///system",
        "node2",
        options_uri="tcp://%n-opt:1234",
        network_suffix="-mig",
        port=49152,
    )
    assert uri == "tcp://node2-opt:1234"


def test_suffix_wins_over_port_alone_and_uses_the_port():
    assert (
        migrate_uri("qemu:///system", "node2.example.com", network_suffix="-mig", port=49152)
        == "tcp://node2-mig.example.com:49152"
    )
    assert migrate_uri("qemu:///system", "node2", network_suffix="-mig") == "tcp://node2-mig"


def test_suffix_for_a_non_qemu_hypervisor_is_a_host_name():
    assert migrate_uri("xen:///system", "node2", network_suffix="-mig") == "node2-mig"


def test_port_alone():
    assert migrate_uri("qemu:///system", "node2", port=49152) == "tcp://node2:49152"


# -- parse_migrate_options


@pytest.mark.parametrize("switch", FLAG_SWITCHES)
def test_every_flag_switch_is_accepted(switch):
    assert parse_migrate_options(switch) == MigrateOptions((switch,), None)


@pytest.mark.parametrize("text", [None, "", "   "])
def test_empty_migrate_options(text):
    assert parse_migrate_options(text) == MigrateOptions((), None)


def test_switches_and_migrateuri_together():
    options = parse_migrate_options("--p2p  --tunnelled --migrateuri=tcp://%n:49152 --unsafe")
    assert options == MigrateOptions(("--p2p", "--tunnelled", "--unsafe"), "tcp://%n:49152")


def test_migrateuri_as_a_separate_word_and_quoted():
    assert parse_migrate_options("--migrateuri 'tcp://%n:1'").migrateuri == "tcp://%n:1"


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("--p2p --bandwidth 100", "--bandwidth"),
        ("--verbose", "--verbose"),
        ("--live --timeout=30", "--timeout=30"),
        ("p2p", "p2p"),
        ("--migrateuri", "--migrateuri"),  # no value follows
    ],
)
def test_unknown_switches_are_a_clear_error(text, word):
    with pytest.raises(MigrationConfigError) as info:
        parse_migrate_options(text)
    message = str(info.value)
    assert f"'{word}'" in message
    assert "--p2p" in message and "--migrateuri=URI" in message  # names what is supported


def test_unbalanced_quotes_are_a_clear_error():
    with pytest.raises(MigrationConfigError, match="cannot parse"):
        parse_migrate_options("--migrateuri='tcp://x")


# -- check_uri


@pytest.mark.parametrize(
    "uri",
    [
        "qemu:///system",
        "qemu:///session",
        "qemu+ssh://root@node2:2222/system?keyfile=/root/.ssh/k",
        "qemu+tcp://node2/system",
        "qemu+tls://node2.example.com/system",
        "qemu+unix:///system?socket=/run/libvirt/libvirt-sock",
        "qemu+libssh2://node2/system?known_hosts=/k",
        "xen:///system",
        "lxc:///",
        "test:///default",
        "tcp://node2:49152",
        "tcp://[fe80::1]:49152",
        "rdma://node2:49152",
    ],
)
def test_check_uri_accepts_libvirt_uris(uri):
    assert check_uri(uri, "hypervisor") is None


@pytest.mark.parametrize(
    ("uri", "words"),
    [
        ("qemu:///system extra", "white space"),
        ("qemu:/// system", "white space"),
        ("system", "not a libvirt URI"),
        ("/var/run/libvirt/libvirt-sock", "not a libvirt URI"),
        ("qemu:/system", "missing '://'"),
        ("qemu+carrierpigeon://node2/system", "unknown transport 'carrierpigeon'"),
        ("qemu+ssh://node2:port/system", "malformed port"),
        ("qemu+ssh://node2:99999/system", "malformed port"),
        ("1qemu:///system", "not a libvirt URI"),
    ],
)
def test_check_uri_rejects_with_a_reason(uri, words):
    problem = check_uri(uri, "hypervisor")
    assert problem is not None
    assert words in problem


# -- the budget of migrate_to


def test_budget_of_the_short_timeout_the_lab_tests_use():
    plan = migration_budget(8.0)
    # the watchdog answers 1 s before Pacemaker's timeout, after 1.5 s aborting the job
    assert plan.answer_margin == 1.0 and plan.watchdog_abort == 1.5
    assert plan.answer_by == pytest.approx(5.5)
    assert plan.settle_by == pytest.approx(4.5)  # 1 s for the last state check
    assert plan.abort_at == pytest.approx(2.0)  # 2.5 s for libvirt to end the job
    assert plan.abort_call == pytest.approx(1.25)


def test_budget_of_the_advertised_timeout():
    plan = migration_budget(120.0)
    assert plan.answer_margin == 6.0
    assert plan.watchdog_abort == 5.0  # ceiling
    assert plan.final == 3.0  # ceiling
    assert plan.abort_reserve == 18.0  # 15% of the timeout
    assert plan.abort_call == 5.0
    assert plan.abort_at == pytest.approx(88.0)


@pytest.mark.parametrize("total", [8.0, 10.0, 20.0, 60.0, 120.0, 600.0, 3600.0])
def test_budget_keeps_its_order_and_floors(total):
    plan = migration_budget(total)
    assert 0 < plan.abort_at < plan.settle_by < plan.answer_by < total - plan.answer_margin < total
    assert plan.abort_reserve >= 2.5 and plan.watchdog_abort >= 1.5 and plan.final >= 1.0
    assert plan.abort_call < plan.abort_reserve  # the abort's answer leaves time for the cleanup
    assert plan.abort_reserve <= 20.0 and plan.watchdog_abort <= 5.0  # long timeouts migrate


def test_budget_of_a_timeout_too_short_aborts_at_once():
    assert migration_budget(4.0).abort_at == 0.0
