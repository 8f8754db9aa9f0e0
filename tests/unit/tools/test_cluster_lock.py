"""The cluster lock, admin against admin on a virtual clock (see lock_fakes: the fake CIB
store is held to real cibadmin in tests/contract/test_cluster_lock_pacemaker.py)."""

from __future__ import annotations

import pytest
from havirt.tools.cluster.lock import (
    LOCK_ID,
    LockHeld,
    acquire,
    break_lock,
    read_lock,
)
from havirt.tools.errors import HavirtError, Refused
from lock_fakes import Admin, FakeCibStore, World

TTL = 600.0


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def store() -> FakeCibStore:
    return FakeCibStore()


def test_a_free_lock_is_taken_with_its_holder_and_released(store, world) -> None:
    admin = Admin(world)
    lock = acquire(store, "node standby node1", admin.env(), ttl=TTL)
    record = read_lock(store)
    assert record is not None and record.token == lock.record.token
    assert record.to_dict() == {
        "command": "node standby node1",
        "user": "root",
        "host": "node2",
        "pid": 4242,
        "since": "2026-12-03T14:00:00Z",
        "expires": "2026-12-03T14:10:00Z",
    }
    assert lock.taken_over is None and lock.held()
    lock.release()
    assert read_lock(store) is None
    lock.release()  # once is enough; a second release changes nothing
    assert f'id="{LOCK_ID}"' not in store.crm_config()


def test_a_second_admin_is_refused_naming_the_holder_and_changes_nothing(store, world) -> None:
    first = acquire(store, "node standby node1", Admin(world).env(), ttl=TTL)
    world.advance(95)
    before = store.crm_config()
    other = Admin(world, host="node3", pid=99, user="alice")
    with pytest.raises(LockHeld) as refused:
        acquire(store, "node standby node2", other.env(), ttl=TTL)
    assert isinstance(refused.value, Refused)
    message = str(refused.value)
    assert (
        "another havirt command holds the cluster lock: 'havirt node standby node1' by root "
        "on node2 (pid 4242), taken 14:00:00 UTC (95 s ago), expires 14:10:00 UTC; "
        "nothing was changed"
    ) in message
    assert "--wait-lock" in message and "havirt cluster unlock" in message
    assert "\n" not in refused.value.message  # one line, the fix on its own
    assert store.crm_config() == before
    assert first.held()


def test_a_waiting_admin_gets_the_lock_when_the_holder_releases_it(store, world) -> None:
    first = acquire(store, "balance", Admin(world).env(), ttl=TTL)
    world.at(7, first.release)
    second = Admin(world, host="node3", pid=7)
    lock = acquire(store, "node standby node2", second.env(), ttl=TTL, wait=60)
    assert lock.record.holder.command == "node standby node2"
    assert lock.record.since is not None and lock.record.since.second == 8  # polled every 2 s
    assert second.log == ["waiting for balance", "sleep 2", "sleep 2", "sleep 2", "sleep 2"]
    assert lock.taken_over is None


def test_waiting_ends_at_the_wait_lock_deadline(store, world) -> None:
    acquire(store, "balance", Admin(world).env(), ttl=TTL)
    second = Admin(world, host="node3", pid=7)
    with pytest.raises(LockHeld, match=r"holds the cluster lock \(waited 5 s\): 'havirt balance'"):
        acquire(store, "place vm1", second.env(), ttl=TTL, wait=5)
    assert world.seconds == 5
    assert second.log == ["waiting for balance", "sleep 2", "sleep 2", "sleep 1"]


def test_an_expired_lock_is_taken_over_and_said_so(store, world) -> None:
    acquire(store, "node standby node1", Admin(world).env(), ttl=60)  # then killed
    world.advance(61)
    lock = acquire(store, "node standby node2", Admin(world, host="node3").env(), ttl=TTL)
    assert lock.taken_over == (
        "took over the lock of 'havirt node standby node1' by root on node2 (pid 4242), "
        "taken 14:00:00 UTC (61 s ago), expired 14:01:00 UTC: it expired"
    )
    assert read_lock(store).holder.host == "node3"


def test_a_dead_holder_on_this_node_is_taken_over_at_once(store, world) -> None:
    acquire(store, "balance", Admin(world, pid=100).env(), ttl=TTL)  # SIGKILLed
    here = Admin(world, pid=200, gone={100})
    lock = acquire(store, "balance", here.env(), ttl=TTL)
    assert lock.taken_over is not None
    assert lock.taken_over.endswith("its process (pid 100 on node2) is gone")


def test_a_holder_on_another_node_is_not_judged_by_this_nodes_processes(store, world) -> None:
    acquire(store, "balance", Admin(world, host="node1", pid=100).env(), ttl=TTL)
    here = Admin(world, host="node2", pid=200, gone={100})  # pid 100 here is not it
    with pytest.raises(LockHeld):
        acquire(store, "balance", here.env(), ttl=TTL)


def test_a_release_after_a_takeover_leaves_the_new_holders_lock(store, world) -> None:
    slow = acquire(store, "node standby node1", Admin(world).env(), ttl=60)
    world.advance(120)  # the slow command outlived its lock
    taker = acquire(store, "balance", Admin(world, host="node3").env(), ttl=TTL)
    assert not slow.held()
    slow.release()
    assert taker.held()
    assert read_lock(store).holder.command == "balance"


def test_two_admins_taking_an_expired_lock_at_once_get_one_lock(store, world) -> None:
    """Both see the same expired holder; the second's delete matches its token no longer
    (the first already replaced it), so the first's new lock stands."""
    acquire(store, "balance", Admin(world).env(), ttl=10)
    world.advance(11)
    stale = read_lock(store)
    a = acquire(store, "node standby node1", Admin(world, host="node1").env(), ttl=TTL)
    # The second admin's delete of the stale token now matches nothing ...
    store.delete_where(
        f"//crm_config/cluster_property_set[@id='{LOCK_ID}']"
        f"[nvpair[@name='{LOCK_ID}-token'][@value='{stale.token}']]"
    )
    # ... and its create fails: it is told who holds the lock now.
    with pytest.raises(LockHeld, match="node standby node1"):
        acquire(store, "node standby node3", Admin(world, host="node3").env(), ttl=TTL)
    assert a.held()


def test_unlock_removes_whoever_holds_it(store, world) -> None:
    acquire(store, "balance", Admin(world).env(), ttl=TTL)
    removed = break_lock(store)
    assert removed is not None and removed.holder.command == "balance"
    assert read_lock(store) is None
    assert break_lock(store) is None  # nothing to remove


def test_a_hand_edited_lock_without_an_expiry_never_expires_by_itself(store, world) -> None:
    store.create_element(
        "crm_config",
        f'<cluster_property_set id="{LOCK_ID}">'
        f'<nvpair id="{LOCK_ID}-token" name="{LOCK_ID}-token" value="abc"/>'
        "</cluster_property_set>",
    )
    world.advance(10**6)
    unreadable = r"'havirt \?' by \? on \? \(pid 0\), with no readable expiry"
    with pytest.raises(LockHeld, match=unreadable):
        acquire(store, "balance", Admin(world).env(), ttl=TTL)
    assert break_lock(store) is not None


def test_a_token_that_cannot_be_quoted_is_refused_not_matched(store, world) -> None:
    store.create_element(
        "crm_config",
        f'<cluster_property_set id="{LOCK_ID}">'
        f'<nvpair id="{LOCK_ID}-token" name="{LOCK_ID}-token" value="x\']|//*[\'"/>'
        f'<nvpair id="{LOCK_ID}-expires" name="{LOCK_ID}-expires" value="2000-01-01T00:00:00Z"/>'
        "</cluster_property_set>",
    )
    with pytest.raises(HavirtError, match=r"token .* is not usable"):
        acquire(store, "balance", Admin(world).env(), ttl=TTL)
    assert read_lock(store) is not None  # nothing else was deleted either
    assert store.root.find(".//crm_config") is not None


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("nan")])
def test_a_lifetime_must_be_positive(store, world, ttl: float) -> None:
    with pytest.raises(HavirtError, match="lifetime must be positive"):
        acquire(store, "balance", Admin(world).env(), ttl=ttl)
    assert read_lock(store) is None
