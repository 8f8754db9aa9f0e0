"""Inventory checking: every malformed inventory gives line-numbered problems."""

from __future__ import annotations

import json

import pytest
from example_paths import EXAMPLES
from havirt.tools.inventory import InventoryError, check_text, load, load_text
from havirt.tools.inventory.kinds import SIZE

BASE = """\
[cluster]
name = "c1"

[guest_defaults]
config = "/srv/vms/{name}.xml"

[[nodes]]
name = "kvm1"
addresses = ["10.0.0.1/24"]
memory = "8GiB"
vcpus = 4
fence = { agent = "fence_ipmilan", options = { ip = "10.0.1.1" } }

[[nodes]]
name = "kvm2"
addresses = ["10.0.0.2/24"]
memory = "8GiB"
vcpus = 4
fence = { agent = "fence_ipmilan", options = { ip = "10.0.1.2" } }

[[networks]]
name = "vmnet"
bridge = "br1"
subnet = "192.168.1.0/24"

[[guests]]
name = "web1"
vcpus = 2
memory = "2GiB"
mac = "52:54:00:00:00:01"
ip = "192.168.1.10"

[[guests]]
name = "web2"
vcpus = 2
memory = "2GiB"
mac = "52:54:00:00:00:02"
ip = "192.168.1.11"
"""


def problems(text: str) -> list[str]:
    return [str(p) for p in check_text(text, "c.toml").problems]


def test_base_is_valid() -> None:
    inv = load_text(BASE, "c.toml")
    assert [n.name for n in inv.nodes] == ["kvm1", "kvm2"]
    assert [n.nodeid for n in inv.nodes] == [1, 2]
    web1 = inv.guests[0]
    assert web1.config == "/srv/vms/web1.xml"
    assert web1.network == "vmnet"  # the first network, as it has a MAC
    assert web1.memory_mib == 2048
    assert inv.policies.stickiness == 100
    assert inv.policies.monitor_interval == 10_000


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'memory = "2GiB"\nmac = "52:54:00:00:00:02"',
            'memory = "lots"\nmac = "52:54:00:00:00:02"',
            ["c.toml:36: guests[1].memory: expected a size like 2GiB, got 'lots'"],
        ),
        (
            'vcpus = 4\nfence = { agent = "fence_ipmilan", options = { ip = "10.0.1.2" } }',
            'vcpus = "4"\nfence = { agent = "fence_ipmilan", options = { ip = "10.0.1.2" } }',
            ["c.toml:18: nodes[1].vcpus: expected a whole number of at least 1, got '4'"],
        ),
        (
            'name = "c1"',
            'name = "c1"\ntokn = "1s"',
            ["c.toml:3: cluster.tokn: unknown key 'tokn' in [cluster] (did you mean 'token'?)"],
        ),
        (
            'mac = "52:54:00:00:00:02"',
            'mac = "52:54:00:00:00:01"',
            ["c.toml:37: guests[1].mac: duplicate MAC 52:54:00:00:00:01 (also at guests[0].mac)"],
        ),
        (
            'ip = "192.168.1.11"',
            'ip = "10.0.0.1"',
            [
                "c.toml:38: guests[1].ip: duplicate IP address 10.0.0.1 "
                "(also at nodes[0].addresses[0])",
                "c.toml:38: guests[1].ip: 10.0.0.1 is not in network vmnet (192.168.1.0/24)",
            ],
        ),
        (
            'name = "web2"',
            'name = "web1"',
            [
                "c.toml:34: guests[1].name: duplicate guest name web1 (also at guests[0].name)",
                # the same name means the same domain XML path: said once, at the guest
                "c.toml:33: guests[1].config: duplicate domain XML /srv/vms/web1.xml "
                "(also at guests[0].config)",
            ],
        ),
        (
            'vcpus = 2\nmemory = "2GiB"\nmac = "52:54:00:00:00:02"',
            'vcpus = 2\nmemory = "16GiB"\nmac = "52:54:00:00:00:02"',
            [
                "c.toml:26: warning: guests: the guests need 18GiB but with kvm1 down the "
                "other nodes offer 8GiB: not every guest can run after a node failure",
                "c.toml:36: guests[1].memory: 16GiB is more than any node offers "
                "(largest: kvm1 with 8GiB)",
            ],
        ),
        (
            'name = "web2"\nvcpus = 2',
            'name = "web2"\nvcpus = 5\npreferred_nodes = ["kvm3"]',
            [
                "c.toml:35: guests[1].vcpus: 5 vCPUs are more than any node offers "
                "(largest: kvm1 with 4)",
                "c.toml:36: guests[1].preferred_nodes[0]: unknown node 'kvm3' "
                "(did you mean 'kvm2'?) (known: kvm1, kvm2)",
            ],
        ),
    ],
)
def test_malformed_inventories_give_line_numbered_errors(old, new, expected) -> None:
    assert BASE.count(old) == 1, old
    found = problems(BASE.replace(old, new))
    assert sorted(found) == sorted(expected)


def test_every_type_error_is_reported_in_one_run() -> None:
    text = BASE.replace('memory = "8GiB"', "memory = 8").replace('name = "c1"', "name = 3")
    found = problems(text)
    assert found == [
        "c.toml:2: cluster.name: expected a cluster name like prod-kvm "
        "(letters, digits, . _ -), got 3",
        "c.toml:10: nodes[0].memory: expected a size like 2GiB (a quoted string with a unit), "
        "got 8",
        "c.toml:17: nodes[1].memory: expected a size like 2GiB (a quoted string with a unit), "
        "got 8",
    ]


def test_missing_keys_point_at_their_table() -> None:
    text = BASE.replace('name = "web2"\nvcpus = 2\n', 'name = "web2"\n')
    assert problems(text) == [
        "c.toml:33: guests[1]: missing key 'vcpus' in [guests[1]]: a whole number of at least 1"
    ]
    assert problems("") == [
        "c.toml: missing key 'cluster': a table",
        "c.toml: missing key 'nodes': tables",
    ]


def test_toml_syntax_error_has_its_line() -> None:
    assert problems(BASE.replace('bridge = "br1"', "bridge = br1")) == [
        "c.toml:23: TOML syntax: Invalid value (column 10)"
    ]


def test_guest_params_are_checked_against_the_agent() -> None:
    text = BASE.replace(
        'ip = "192.168.1.11"',
        'ip = "192.168.1.11"\nparams = { shutdown_mod = "acpi", migration_speed = "fast", '
        'config = "/x.xml" }',
    )
    assert problems(text) == [
        "c.toml:39: guests[1].params.config: set by havirt: set config on the guest or in "
        "[guest_defaults]",
        "c.toml:39: guests[1].params.migration_speed: parameter 'migration_speed': 'fast' is "
        "not a whole number (MiB/s)",
        "c.toml:39: guests[1].params.shutdown_mod: ocf:havirt:VirtualDomain has no parameter "
        "'shutdown_mod' (did you mean 'shutdown_mode'?)",
    ]


def test_cross_rules() -> None:
    # A one-member anti-affinity group is most likely a typo.
    text = BASE.replace('ip = "192.168.1.10"', 'ip = "192.168.1.10"\nanti_affinity = ["web"]')
    assert problems(text) == [
        "c.toml:32: guests[0].anti_affinity: anti-affinity group 'web' has only this guest: "
        "a typo? (a group keeps its guests on different nodes)"
    ]
    # pcmk_host_list is havirt's to set.
    text = BASE.replace('{ ip = "10.0.1.2" }', '{ ip = "10.0.1.2", pcmk_host_list = "x" }')
    assert problems(text) == [
        "c.toml:19: nodes[1].fence.options.pcmk_host_list: pcmk_host_list is set by havirt "
        "(the node's name): remove it",
    ]
    # Every node has one address per corosync (knet) link.
    text = BASE.replace('addresses = ["10.0.0.2/24"]', 'addresses = ["10.0.0.2", "10.1.0.2"]')
    assert problems(text) == [
        "c.toml:16: nodes[1].addresses: 2 address(es) but kvm1 has 1: every node needs one "
        "address per corosync link",
    ]
    # A guest named like a generated resource.
    assert problems(BASE.replace('name = "web2"', 'name = "fence-kvm1"')) == [
        "c.toml:34: guests[1].name: 'fence-kvm1' is the Pacemaker id of the fence device "
        "of node kvm1: rename the guest"
    ]


def test_storage_rules() -> None:
    nfs = '\n[[storage]]\nname = "vms"\ntype = "nfs"\ntarget = "/srv/vms"\n'
    assert problems(BASE + nfs) == [
        "c.toml:40: storage[0]: missing key 'server': type nfs needs it",
        "c.toml:40: storage[0]: missing key 'export': type nfs needs it",
    ]
    shared = '\n[[storage]]\nname = "vms"\ntype = "dir"\ntarget = "/srv"\nserver = "x"\n'
    assert problems(BASE + shared) == [
        "c.toml:44: storage[0].server: 'server' is only for type nfs"
    ]


def test_load_raises_listing_every_error(tmp_path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace('memory = "8GiB"', 'memory = "x"'))
    with pytest.raises(InventoryError) as caught:
        load(str(path))
    assert str(caught.value).splitlines() == [
        "inventory bad.toml has 2 errors:",
        "  bad.toml:10: nodes[0].memory: expected a size like 2GiB, got 'x'",
        "  bad.toml:17: nodes[1].memory: expected a size like 2GiB, got 'x'",
    ]


def test_examples_are_valid_and_show_as_json() -> None:
    for path in sorted(EXAMPLES.glob("*.toml")):
        inv = load(str(path))
        data = inv.to_dict()
        json.dumps(data)  # JSON-ready
        assert data["cluster"]["name"] == inv.cluster.name


def test_sizes() -> None:
    assert SIZE.convert("1.5GiB") == 3 << 29
    assert SIZE.convert("512M") == 512 << 20
    for bad in ("2GB", "lots", "-1GiB", "0MiB"):
        with pytest.raises(ValueError):
            SIZE.convert(bad)


def test_a_guest_without_config_runs_from_the_definition_store() -> None:
    store = '\n[definitions]\npath = "/srv/shared/definitions"\n'
    bare = BASE.replace('[guest_defaults]\nconfig = "/srv/vms/{name}.xml"\n', "")
    inv = load_text(bare + store, "c.toml")
    assert [g.config for g in inv.guests] == [
        "/srv/shared/definitions/web1/domain.xml",
        "/srv/shared/definitions/web2/domain.xml",
    ]
    kept = load_text(BASE + store, "c.toml")  # a config the admin gave still wins
    assert [g.config for g in kept.guests] == ["/srv/vms/web1.xml", "/srv/vms/web2.xml"]
    default = load_text(bare, "c.toml")  # [definitions] path has a default too
    assert default.guests[0].config == "/srv/havirt-shared/definitions/web1/domain.xml"
