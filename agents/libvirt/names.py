"""libvirt's names: libvirt-python (loaded on first use), the flags behind virsh's
switches and the shutdown modes, and the names of domain states and reasons."""

from __future__ import annotations

from havirt.agents.guest.domain_state import DomainState
from havirt.agents.libvirt import c_api

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs every monitor

if TYPE_CHECKING:
    from typing import Any

_STATE_NAMES = c_api.STATE_NAMES
_REASONS = c_api.REASON_NAMES

SHUTDOWN_MODE_FLAGS = {
    "acpi": "VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN",
    "agent": "VIR_DOMAIN_SHUTDOWN_GUEST_AGENT",
    "initctl": "VIR_DOMAIN_SHUTDOWN_INITCTL",
    "signal": "VIR_DOMAIN_SHUTDOWN_SIGNAL",
    "paravirt": "VIR_DOMAIN_SHUTDOWN_PARAVIRT",
}

# virsh migrate's switches, as libvirt flags (for migrate_options).
MIGRATE_FLAG_NAMES = {
    "--live": "VIR_MIGRATE_LIVE",
    "--p2p": "VIR_MIGRATE_PEER2PEER",
    "--peer2peer": "VIR_MIGRATE_PEER2PEER",
    "--tunnelled": "VIR_MIGRATE_TUNNELLED",
    "--tunneled": "VIR_MIGRATE_TUNNELLED",
    "--persistent": "VIR_MIGRATE_PERSIST_DEST",
    "--undefinesource": "VIR_MIGRATE_UNDEFINE_SOURCE",
    "--suspend": "VIR_MIGRATE_PAUSED",
    "--copy-storage-all": "VIR_MIGRATE_NON_SHARED_DISK",
    "--copy-storage-inc": "VIR_MIGRATE_NON_SHARED_INC",
    "--copy-storage-synchronous-writes": "VIR_MIGRATE_NON_SHARED_SYNCHRONOUS_WRITES",
    "--change-protection": "VIR_MIGRATE_CHANGE_PROTECTION",
    "--unsafe": "VIR_MIGRATE_UNSAFE",
    "--compressed": "VIR_MIGRATE_COMPRESSED",
    "--auto-converge": "VIR_MIGRATE_AUTO_CONVERGE",
    "--rdma-pin-all": "VIR_MIGRATE_RDMA_PIN_ALL",
    "--abort-on-error": "VIR_MIGRATE_ABORT_ON_ERROR",
    "--postcopy": "VIR_MIGRATE_POSTCOPY",
    "--tls": "VIR_MIGRATE_TLS",
    "--parallel": "VIR_MIGRATE_PARALLEL",
}


_libvirt: Any = None


def libvirt_module() -> Any:
    """libvirt-python, imported on first use (the monitor path never needs it)."""
    global _libvirt
    if _libvirt is None:
        import libvirt

        # libvirt prints every error to stderr by default; we report them ourselves.
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _libvirt = libvirt
    return _libvirt


def migrate_flags(switches: tuple[str, ...] | list[str]) -> int:
    """The libvirt flags of a live migration with these virsh switches."""
    lv = libvirt_module()
    flags: int = lv.VIR_MIGRATE_LIVE
    for switch in switches:
        flags |= getattr(lv, MIGRATE_FLAG_NAMES[switch])
    return flags


def shutdown_flags(modes: list[str]) -> int:
    lv = libvirt_module()
    flags = 0
    for mode in modes:
        flags |= getattr(lv, SHUTDOWN_MODE_FLAGS[mode])
    return flags


def state_names(state: int, reason: int) -> DomainState:
    return DomainState(
        _STATE_NAMES.get(state, f"state{state}"),
        _REASONS.get(state, {}).get(reason, f"reason{reason}"),
    )
