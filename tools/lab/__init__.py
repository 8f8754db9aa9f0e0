"""A test lab on one machine: simulated hypervisor nodes with real libvirt
daemons (namespaces, no VMs) and tiny real QEMU/TCG guests.

* :mod:`.lab` -- :class:`Lab`: the nodes, their switch, shared directory and SSH; up and down.
* :mod:`.node` -- :class:`LibvirtNode`: one node (namespaces, mounts, daemons).
* :mod:`.configs` -- the config files of a node's daemons; :mod:`.ssh` -- SSH in the lab.
* :mod:`.guest_image` -- kernel + busybox initramfs for the test guest, domain XML.
* :mod:`.guest` -- :class:`LabGuest`: a guest's files in the lab's shared directory.
* :mod:`.guest_init` -- the guest's /init script and the console markers it prints.
* :mod:`.iscsi` -- :class:`~.iscsi.IscsiTarget`: a real userspace iSCSI target (tgtd)
  on the lab's switch, for iSCSI pools and guests whose disks are LUNs.

Needs root, util-linux (unshare, nsenter), iproute2, libvirt-daemon-system,
qemu-system-x86, qemu-utils, busybox-static and apt access to a Debian 6.1 kernel;
for iSCSI also tgt, qemu-block-extra and libvirt-daemon-driver-storage-iscsi-direct.
"""

from havirt.tools.lab.guest import LabGuest, create_guest
from havirt.tools.lab.guest_image import (
    GuestAssets,
    build_guest_assets,
    domain_xml,
)
from havirt.tools.lab.guest_init import ACPI_IGNORED_MARKER, POWEROFF_MARKER, READY_MARKER
from havirt.tools.lab.lab import Lab
from havirt.tools.lab.node import LibvirtNode
from havirt.tools.lab.proc import LabError, Result

__all__ = [
    "ACPI_IGNORED_MARKER",
    "POWEROFF_MARKER",
    "READY_MARKER",
    "GuestAssets",
    "Lab",
    "LabError",
    "LabGuest",
    "LibvirtNode",
    "Result",
    "build_guest_assets",
    "create_guest",
    "domain_xml",
]
