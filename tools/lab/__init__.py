"""A test lab on one machine: simulated hypervisor nodes with real libvirt
daemons (namespaces, no VMs) and tiny real QEMU/TCG guests.

* :mod:`.node` -- :class:`Lab` and :class:`LibvirtNode` (namespaces, mounts, daemons).
* :mod:`.guest_image` -- kernel + busybox initramfs for the test guest, domain XML.
* :mod:`.guest` -- :class:`LabGuest`: a guest's files in the lab's shared directory.
* :mod:`.guest_init` -- the guest's /init script and the console markers it prints.

Needs root, util-linux (unshare, nsenter), iproute2, libvirt-daemon-system,
qemu-system-x86, qemu-utils, busybox-static and apt access to a Debian 6.1 kernel.
"""

from .guest import LabGuest, create_guest
from .guest_image import GuestAssets, build_guest_assets, domain_xml, write_domain_xml
from .guest_init import ACPI_IGNORED_MARKER, POWEROFF_MARKER, READY_MARKER
from .node import Lab, LibvirtNode
from .proc import LabError, Result

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
    "write_domain_xml",
]
