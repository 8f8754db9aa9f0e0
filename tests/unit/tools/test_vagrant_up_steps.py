"""Where `vagrant up`'s minutes go, read from its stamped log."""

from __future__ import annotations

from havirt.tools.lab.vagrant_lab import up_steps

LOG = """\
23:58:00 Bringing machine 'storage' up with 'libvirt' provider...
23:59:30 ==> hv1: Machine booted and ready!
23:59:40 ==> hv2: Machine booted and ready!
23:59:41     storage: havirt-vagrant[storage]: exported /srv/nfs/havirt to hv1 hv2 hv3
00:01:00     hv1: havirt-vagrant[hv1]: host prepared
00:01:20     hv2: havirt-vagrant[hv2]: host prepared
00:01:50     hv2: every check passed in 24.66 s
    a line without a stamp: host prepared
00:03:00     hv2: havirt-vagrant[hv2]: waiting for 3 nodes online
00:04:30     hv2: havirt-vagrant[hv2]: cluster ready: fence_havirt devices, ...
"""


def test_each_step_ends_at_its_last_line_past_midnight_too() -> None:
    assert up_steps(LOG) == {
        "machines booted, SSH up": 100.0,
        "storage exporting NFS": 101.0,
        "KVM hosts prepared": 200.0,
        "havirt validate passed": 230.0,
        "guests' files made, cluster stack started": 300.0,
        "cluster ready": 390.0,
    }


def test_a_log_that_stopped_early_shows_only_the_steps_it_reached() -> None:
    assert list(up_steps(LOG.split("00:01:00")[0])) == [
        "machines booted, SSH up",
        "storage exporting NFS",
    ]
    assert up_steps("") == {}
