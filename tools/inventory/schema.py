"""The inventory's schema, declared once as data.

The same declaration checks an inventory (``loader.py``), and is rendered as the
reference table in docs/reference/inventory-schema.md (``tools/dev/docgen.py``).
Rules that span several tables (duplicates, references, capacity) live in
``loader.py``.
"""

from __future__ import annotations

from typing import Any

from havirt.tools.inventory.kinds import (
    DURATION,
    SIZE,
    AbsPath,
    ArrayOf,
    Boolean,
    Choice,
    Field,
    Integer,
    IPAddress,
    Mac,
    MapOf,
    Problems,
    Scalar,
    Score,
    Subnet,
    Table,
    Text,
)
from havirt.tools.inventory.locate import Path

# Where the definition store is when the inventory does not say (docs/domains.md).
DEFAULT_STORE = "/srv/havirt-shared/definitions"

# Names that become Pacemaker ids (XML NCName) and libvirt names: a letter first.
RESOURCE_NAME = r"[A-Za-z_][A-Za-z0-9_.-]{0,63}"
NODE_NAME = r"[A-Za-z0-9]([A-Za-z0-9.-]{0,62}[A-Za-z0-9])?"

OVERRIDE = Table(
    fields=(
        Field("value", Scalar(), "The property's value.", required=True),
        Field(
            "reason",
            Text("why the override is needed, in words", r"\S.{4,200}"),
            "Why this cluster needs it (shown in every warning).",
            required=True,
        ),
    ),
    what="a table with value and reason",
)

CLUSTER = Table(
    fields=(
        Field(
            "name",
            Text("a cluster name like prod-kvm (letters, digits, . _ -)", r"[A-Za-z0-9_.-]{1,32}"),
            "The cluster's name (corosync's cluster_name).",
            required=True,
        ),
        Field(
            "token",
            DURATION,
            "Corosync's totem token timeout: how long a silent node is waited for "
            "before it is declared lost. Unset: corosync's default (3s, scaled by node count).",
        ),
        Field(
            "properties",
            MapOf(Scalar(), key_pattern=r"[a-z][a-z0-9-]*"),
            "Further Pacemaker cluster properties, passed on as given "
            '(e.g. `dc-deadtime = "5s"`). Only options Pacemaker 2.1 knows; not '
            "stonith-enabled (always on) nor placement-strategy (see [policies]); "
            "values that weaken fencing or quorum (startup-fencing = false, "
            "no-quorum-policy = ignore with more than two nodes, stop-all-resources) "
            "only in [cluster.overrides].",
        ),
        Field(
            "overrides",
            MapOf(OVERRIDE, key_pattern=r"[a-z][a-z0-9-]*"),
            "Cluster properties havirt refuses in [cluster.properties], set anyway: "
            '`[cluster.overrides.stonith-enabled]` with `value = "false"` and a '
            "`reason`. For a cluster without fencing, or an option newer than "
            "Pacemaker 2.1. Every run of inventory check, generate and apply warns "
            "about each one.",
        ),
    )
)

POLICIES = Table(
    fields=(
        Field(
            "migration_transport",
            Choice(choices=("ssh", "tcp", "tls")),
            "How libvirt reaches the other node for live migration (qemu+TRANSPORT://).",
            default="ssh",
        ),
        Field(
            "ssh_user",
            Text("a user name", r"[a-z_][a-z0-9_-]*"),
            "The user nodes log in as on each other (ssh_config, qemu+ssh).",
            default="root",
        ),
        Field(
            "stickiness",
            Integer(minimum=0),
            "resource-stickiness default: how much a running guest prefers to stay "
            "where it is (keeps healthy guests from moving when a node comes back).",
            default=100,
        ),
        Field(
            "placement_strategy",
            Choice(choices=("default", "utilization", "minimal", "balanced")),
            "Pacemaker's placement-strategy; all but 'default' place guests by their "
            "memory and vCPU needs against the nodes' capacity.",
            default="balanced",
        ),
        Field("monitor_interval", DURATION, "How often a guest is monitored.", default="10s"),
        Field("monitor_timeout", DURATION, "Timeout of a guest's monitor.", default="30s"),
        Field("start_timeout", DURATION, "Timeout of a guest's start.", default="90s"),
        Field("stop_timeout", DURATION, "Timeout of a guest's stop.", default="90s"),
        Field("migrate_to_timeout", DURATION, "Timeout of a live migration.", default="120s"),
        Field(
            "migrate_from_timeout",
            DURATION,
            "Timeout of the target side's check after a migration.",
            default="60s",
        ),
        Field(
            "fence_timeout",
            DURATION,
            "Timeout of each fence device's start and monitor, in which the agent logs "
            "in to the power switch. Unset: Pacemaker's default (20s). A slow way to the "
            "switch needs more, like the Vagrant lab's emulated hosts (90s).",
        ),
        Field(
            "anti_affinity_score",
            Score(),
            "Score keeping the guests of one anti-affinity group apart; "
            "-INFINITY would rather leave a guest stopped than share a node.",
            default=-1000,
        ),
        Field(
            "preferred_node_score",
            Score(),
            "Score of a guest's preferred nodes. Below stickiness, a guest does not "
            "move back by itself when its preferred node returns.",
            default=50,
        ),
    )
)

GUEST_DEFAULTS = Table(
    fields=(
        Field(
            "config",
            Text("an absolute path like /srv/vms/{name}.xml", r"/[^\n]*"),
            "Where each guest's domain XML is on every node; {name} is replaced by "
            "the guest's name.",
        ),
        Field(
            "hypervisor",
            Text("a libvirt URI like qemu:///system", r"[a-z0-9+]+://[^\s]*"),
            "The libvirt URI of the local hypervisor.",
            default="qemu:///system",
        ),
    )
)

DEFINITIONS = Table(
    fields=(
        Field(
            "path",
            AbsPath(what="an absolute path like /srv/havirt-shared/definitions"),
            "The definition store: the directory on the cluster's shared storage that "
            "holds every guest's domain XML and its revisions (docs/domains.md); a guest "
            "with no config (here or in [guest_defaults]) runs from its file there. The "
            "`havirt domain` commands' --store overrides it.",
            default=DEFAULT_STORE,
        ),
    )
)

FENCE = Table(
    fields=(
        Field(
            "agent",
            Text("a fence agent name like fence_ipmilan", r"fence_[A-Za-z0-9_]+"),
            "The fence agent (an executable fence_* in /usr/sbin on every node).",
            required=True,
        ),
        Field(
            "options",
            MapOf(Scalar(), key_pattern=r"[A-Za-z_][A-Za-z0-9_-]*"),
            "The agent's options as name = value (passed on as they are; "
            "pcmk_host_list is set by havirt).",
        ),
    )
)


def _node_rule(node: dict[str, Any], path: Path, problems: Problems) -> None:
    if "pcmk_host_list" in node["fence"]["options"]:
        problems.error(
            (*path, "fence", "options", "pcmk_host_list"),
            "pcmk_host_list is set by havirt (the node's name): remove it",
        )


NODE = Table(
    fields=(
        Field(
            "name",
            Text("a host name like kvm1", NODE_NAME),
            "The node's name as Pacemaker and corosync know it (its uname).",
            required=True,
        ),
        Field(
            "addresses",
            ArrayOf(IPAddress(), min_items=1),
            "The node's cluster addresses, one per corosync (knet) link, "
            "optionally with the prefix length: ['192.168.77.11/24'].",
            required=True,
        ),
        Field(
            "memory",
            SIZE,
            "Memory the node offers to guests (its RAM minus what the host needs).",
            required=True,
        ),
        Field("vcpus", Integer(minimum=1), "vCPUs the node offers to guests.", required=True),
        Field("fence", FENCE, "How to power this node off.", required=True),
    ),
    rule=_node_rule,
)


STORAGE = Table(
    fields=(
        Field(
            "name",
            Text("a pool name like vmstorage", RESOURCE_NAME),
            "The libvirt storage pool's name.",
            required=True,
        ),
        Field(
            "type",
            Choice(choices=("nfs", "dir")),
            "'nfs': an NFS export every node mounts (a libvirt netfs pool kept mounted "
            "by an ocf:havirt:StoragePool clone); 'dir': a directory already shared "
            "by other means (a libvirt dir pool, nothing for Pacemaker to do).",
            required=True,
        ),
        Field("target", AbsPath(), "Where the storage is on every node.", required=True),
        Field("server", Text("a host name or address"), "NFS server (type nfs)."),
        Field("export", AbsPath(), "The exported path on the NFS server (type nfs)."),
        Field(
            "mount_options",
            ArrayOf(Text("a mount option like vers=4.2", r"[^\s,]+")),
            "NFS mount options (type nfs), e.g. ['vers=4.2', 'hard'].",
        ),
        Field(
            "managed",
            Boolean(),
            "For type nfs: whether Pacemaker mounts it (a StoragePool clone that guests "
            "are ordered after).",
            default=True,
        ),
    )
)

NETWORK = Table(
    fields=(
        Field(
            "name",
            Text("a network name like vmnet", RESOURCE_NAME),
            "The libvirt network's name.",
            required=True,
        ),
        Field(
            "bridge",
            Text("an interface name like br0", r"[A-Za-z0-9_.-]{1,15}"),
            "The host bridge the guests' interfaces join.",
            required=True,
        ),
        Field(
            "forward",
            Choice(choices=("bridge", "nat", "route", "isolated")),
            "'bridge': an existing host bridge (DHCP is elsewhere, see dnsmasq-hosts.conf); "
            "'nat', 'route', 'isolated': libvirt creates the bridge, with the address "
            "below and DHCP for the guests' MACs.",
            default="bridge",
        ),
        Field(
            "address",
            IPAddress(),
            "The host's address on a nat/route/isolated network, with prefix: '192.168.122.1/24'.",
        ),
        Field("subnet", Subnet(), "The guests' subnet; guests' IPs must lie in it."),
        Field(
            "domain",
            Text("a DNS domain like example.com", r"[A-Za-z0-9.-]+"),
            "DNS domain of the guests (hosts file, DHCP).",
        ),
    )
)

DISK = Table(
    fields=(
        Field("size", SIZE, "The disk's virtual size."),
        Field("base_image", Text("a file name or path"), "The image the disk is cloned from."),
        Field("pool", Text("a storage name"), "The storage the disk lives on."),
    )
)

GUEST = Table(
    fields=(
        Field(
            "name",
            Text("a guest name like web1 (a letter first)", RESOURCE_NAME),
            "The libvirt domain's name, also its Pacemaker resource id.",
            required=True,
        ),
        Field("vcpus", Integer(minimum=1), "vCPUs of the guest.", required=True),
        Field("memory", SIZE, "Memory of the guest.", required=True),
        Field(
            "config",
            AbsPath(),
            "Where its domain XML is on every node (default: guest_defaults.config, else "
            "the definition store's PATH/NAME/domain.xml).",
        ),
        Field("hypervisor", Text("a libvirt URI"), "Overrides guest_defaults.hypervisor."),
        Field("disk", DISK, "Its disk (recorded; used by the pool and capacity checks)."),
        Field("mac", Mac(), "MAC address of its interface (DHCP host entry)."),
        Field("ip", IPAddress(allow_prefix=False), "IP address of its interface."),
        Field(
            "network",
            Text("a network name"),
            "The network its interface is on (default: the first network).",
        ),
        Field(
            "hostgroups",
            ArrayOf(Text("a group name", r"[^\s]+")),
            "Monitoring host groups (as in the seed's cluster.conf); recorded only.",
        ),
        Field(
            "preferred_nodes",
            ArrayOf(Text("a node name")),
            "Nodes it prefers to run on (policies.preferred_node_score).",
        ),
        Field(
            "anti_affinity",
            ArrayOf(Text("a group name", r"[A-Za-z0-9_.-]+")),
            "Groups whose guests are kept on different nodes (policies.anti_affinity_score); "
            "a group needs two guests or more, its name letters, digits, '.', '_' and '-'.",
        ),
        Field(
            "storage",
            ArrayOf(Text("a storage name")),
            "Managed storage it needs (default: every managed NFS storage).",
        ),
        Field(
            "migrate",
            Boolean(),
            "Whether it is live-migrated (allow-migrate) rather than stopped and started.",
            default=True,
        ),
        Field(
            "params",
            MapOf(Scalar(), key_pattern=r"[a-z_][a-z0-9_]*"),
            "Further ocf:havirt:VirtualDomain parameters (checked against the agent's "
            "declaration), e.g. { shutdown_mode = 'acpi' }.",
        ),
    )
)

INVENTORY = Table(
    fields=(
        Field("cluster", CLUSTER, "The cluster as a whole.", required=True),
        Field("policies", POLICIES, "Placement, migration and monitoring policies."),
        Field("guest_defaults", GUEST_DEFAULTS, "Defaults for every guest."),
        Field("definitions", DEFINITIONS, "Where the guests' domain XML is kept."),
        Field("nodes", ArrayOf(NODE, min_items=1), "The hypervisor hosts.", required=True),
        Field("storage", ArrayOf(STORAGE), "Shared storage."),
        Field("networks", ArrayOf(NETWORK), "libvirt networks the guests use."),
        Field("guests", ArrayOf(GUEST), "The guests Pacemaker keeps running."),
    )
)

TABLES: tuple[tuple[str, Table], ...] = (
    ("[cluster]", CLUSTER),
    ("[policies]", POLICIES),
    ("[guest_defaults]", GUEST_DEFAULTS),
    ("[definitions]", DEFINITIONS),
    ("[[nodes]]", NODE),
    ("[nodes.fence]", FENCE),
    ("[[storage]]", STORAGE),
    ("[[networks]]", NETWORK),
    ("[[guests]]", GUEST),
    ("[guests.disk]", DISK),
)
