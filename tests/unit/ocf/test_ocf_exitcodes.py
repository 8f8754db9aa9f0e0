from __future__ import annotations

import pytest
from havirt.ocf.errors import OcfError, configured, generic, installed
from havirt.ocf.exitcodes import OcfExit


def test_codes_are_the_ocf_numbers():
    assert [int(c) for c in OcfExit] == list(range(10))
    assert OcfExit.SUCCESS == 0
    assert OcfExit.ERR_GENERIC == 1
    assert OcfExit.ERR_ARGS == 2
    assert OcfExit.ERR_UNIMPLEMENTED == 3
    assert OcfExit.ERR_PERM == 4
    assert OcfExit.ERR_INSTALLED == 5
    assert OcfExit.ERR_CONFIGURED == 6
    assert OcfExit.NOT_RUNNING == 7
    assert OcfExit.RUNNING_PROMOTED == 8
    assert OcfExit.FAILED_PROMOTED == 9


@pytest.mark.parametrize(
    ("code", "severity"),
    [
        (OcfExit.SUCCESS, "none"),
        (OcfExit.NOT_RUNNING, "none"),
        (OcfExit.RUNNING_PROMOTED, "none"),
        (OcfExit.ERR_GENERIC, "soft"),
        (OcfExit.FAILED_PROMOTED, "soft"),
        (OcfExit.ERR_ARGS, "hard"),
        (OcfExit.ERR_UNIMPLEMENTED, "hard"),  # Pacemaker bans the node, as for 2/4/5
        (OcfExit.ERR_PERM, "hard"),
        (OcfExit.ERR_INSTALLED, "hard"),
        (OcfExit.ERR_CONFIGURED, "fatal"),
    ],
)
def test_severity(code, severity):
    assert code.severity == severity


def test_ocf_error_carries_code_and_reason():
    err = OcfError(5, "qemu-img missing: install qemu-utils")
    assert err.code is OcfExit.ERR_INSTALLED
    assert err.reason == "qemu-img missing: install qemu-utils"
    assert str(err) == err.reason


def test_ocf_error_rejects_codes_outside_ocf():
    with pytest.raises(ValueError):
        OcfError(42, "nope")


@pytest.mark.parametrize(
    ("factory", "code"),
    [
        (configured, OcfExit.ERR_CONFIGURED),
        (installed, OcfExit.ERR_INSTALLED),
        (generic, OcfExit.ERR_GENERIC),
    ],
)
def test_helpers(factory, code):
    err = factory("why")
    assert isinstance(err, OcfError)
    assert (err.code, err.reason) == (code, "why")
