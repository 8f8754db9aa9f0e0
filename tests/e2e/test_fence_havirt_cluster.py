"""fence_havirt through a real Pacemaker: `stonith_admin --reboot` power-cycles the
libvirt guest that stands for a node, off before on."""

from __future__ import annotations

import os
import signal
import time

from havirt.tools.lab import create_guest
from havirt.tools.lab.auditor import Auditor
from havirt.tools.lab.cluster import ClusterLab


def test_stonith_admin_reboot_power_cycles_the_guest_standing_for_a_node(
    cluster: ClusterLab, auditor: Auditor, tmp_path
) -> None:
    hypervisor, admin = cluster.nodes["node1"], cluster.nodes["node2"]
    guest = create_guest(cluster, "standin", assets=cluster.guest_assets)
    events = tmp_path / "events.log"
    watcher = None
    try:
        guest.define(hypervisor)
        guest.start(hypervisor)
        [before] = hypervisor.qemu_pids(guest.name)
        argv = ["virsh", "-c", "qemu:///system", "event", "--loop", "--event", "lifecycle"]
        watcher = hypervisor.popen(argv, log=events)
        time.sleep(1.0)  # virsh registers its callback
        admin.pcs(
            "stonith",
            "create",
            "fence-standin",
            "fence_havirt",
            f"uri=qemu+tcp://{hypervisor.address}/system",
            f"pcmk_host_map=outsider:{guest.name}",
            "pcmk_host_list=outsider",
        )
        result = admin.exec(
            ["stonith_admin", "--reboot", "outsider", "--timeout", "60"], timeout=90
        )
        assert result.ok, result.describe()
        after = hypervisor.qemu_pids(guest.name)
        assert after and after != [before], "the guest was not power-cycled"
        text = events.read_text(errors="replace")
        stopped, started = text.find("Stopped"), text.rfind("Started")
        assert 0 <= stopped < started, f"expected off before on, libvirt saw:\n{text}"
    finally:
        admin.pcs("stonith", "delete", "fence-standin", check=False)
        if watcher is not None:
            os.killpg(watcher.pid, signal.SIGTERM)
            watcher.wait(timeout=10)
        guest.remove()
