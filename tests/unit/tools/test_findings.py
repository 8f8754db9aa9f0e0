"""The one type of what havirt finds: its severities and the JSON forms commands pick."""

from __future__ import annotations

import pytest
from havirt.tools.findings import ERROR, NOTE, WARNING, Finding, of_severity


def test_a_finding_shows_the_fields_a_command_picks_in_their_order() -> None:
    finding = Finding("disagree", ERROR, "libvirt runs it on node2", "refresh", node="node2")
    assert finding.to_dict("severity", "code") == {"severity": ERROR, "code": "disagree"}
    assert list(finding.to_dict()) == [
        "code",
        "severity",
        "message",
        "fix",
        "node",
        "guest",
        "item",
        "expected",
        "actual",
    ]


def test_an_unknown_severity_is_a_bug_caught_where_it_is_made() -> None:
    with pytest.raises(ValueError, match="not one of error, warning, note"):
        Finding("x", "fatal", "message")


def test_findings_are_picked_by_severity_in_order() -> None:
    found = [Finding("a", NOTE, "1"), Finding("b", ERROR, "2"), Finding("c", ERROR, "3")]
    assert [f.code for f in of_severity(found, ERROR)] == ["b", "c"]
    assert of_severity(found, WARNING) == ()
