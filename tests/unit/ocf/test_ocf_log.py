from __future__ import annotations

import io
import os
import re
import syslog

import pytest
from havirt.ocf.log import OcfLogger, debug_enabled


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


class ClosedStream(io.StringIO):
    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


class RecordingSyslog:
    """The syslog handed to the logger (the host's, in an agent): records what it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple] = []

    def openlog(self, ident: str, facility: int) -> None:
        self.sent.append(("openlog", ident, facility))

    def syslog(self, priority: int, message: str) -> None:
        self.sent.append(("syslog", priority, message))

    def messages(self) -> list[tuple[int, str]]:
        return [(prio, text) for kind, prio, text in self.sent if kind == "syslog"]


@pytest.fixture
def fake_syslog() -> RecordingSyslog:
    return RecordingSyslog()


def logger(
    environ: dict[str, str],
    stream: io.StringIO | None = None,
    sink: RecordingSyslog | None = None,
) -> OcfLogger:
    return OcfLogger(
        "toy(vm1)",
        environ,
        stream if stream is not None else io.StringIO(),
        sink if sink is not None else RecordingSyslog(),
    )


# -- HA_debug is a string


@pytest.mark.parametrize(
    "value",
    ["yes", "1", "true", "on", "pacemaker-execd", "pacemaker-execd,pacemaker-controld", "2"],
)
def test_debug_on_for_any_value_but_an_explicit_no(value):
    assert debug_enabled(value) is True


@pytest.mark.parametrize("value", [None, "", "0", "no", "No", "false", "off", "n", " 0 "])
def test_debug_off(value):
    assert debug_enabled(value) is False


def test_debug_messages_dropped_unless_ha_debug():
    out = io.StringIO()
    log = logger({"HA_LOGFACILITY": "none"}, out)
    log.debug("hidden")
    log.info("shown")
    assert out.getvalue() == "INFO: shown\n"
    assert log.messages == [("info", "shown")]


def test_debug_messages_kept_with_ha_debug_daemon_list():
    out = io.StringIO()
    log = logger({"HA_LOGFACILITY": "none", "HA_debug": "pacemaker-execd,pacemaker-controld"}, out)
    log.debug("visible")
    assert out.getvalue() == "DEBUG: visible\n"


# -- stderr


def test_labels_match_ocf_log():
    out = io.StringIO()
    log = logger({"HA_LOGFACILITY": "none", "HA_debug": "1"}, out)
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    log.log("crit", "c")
    log.log("notice", "n")
    assert out.getvalue().splitlines() == [
        "DEBUG: d",
        "INFO: i",
        "WARNING: w",
        "ERROR: e",
        "CRIT: c",
        "NOTICE: n",
    ]


def test_stderr_is_the_fallback_without_syslog_or_file(fake_syslog):
    out = io.StringIO()
    log = logger({"HA_LOGFACILITY": "none"}, out, fake_syslog)
    assert log.to_stderr
    log.error("boom")
    assert out.getvalue() == "ERROR: boom\n"
    assert fake_syslog.sent == []


@pytest.mark.parametrize("facility", ["", "NONE", " none "])
def test_empty_or_none_facility_disables_syslog(facility, fake_syslog):
    log = logger({"HA_LOGFACILITY": facility}, sink=fake_syslog)
    assert log.facility is None
    log.info("x")
    assert fake_syslog.sent == []


def test_no_stderr_when_syslog_is_used():
    out = io.StringIO()
    log = logger({"HA_LOGFACILITY": "daemon"}, out)
    assert not log.to_stderr
    log.error("boom")
    assert out.getvalue() == ""


def test_no_stderr_when_a_logfile_is_used(tmp_path):
    out = io.StringIO()
    log = logger({"HA_LOGFACILITY": "none", "HA_LOGFILE": str(tmp_path / "l")}, out)
    log.info("x")
    assert out.getvalue() == ""


def test_terminal_always_gets_messages(fake_syslog):
    out = TtyStream()
    log = logger({"HA_LOGFACILITY": "daemon"}, out, fake_syslog)
    log.info("hello")
    assert out.getvalue() == "INFO: hello\n"
    assert fake_syslog.messages() == [(syslog.LOG_INFO, "INFO: hello")]


def test_stream_without_isatty_is_not_a_terminal():
    log = logger({"HA_LOGFACILITY": "daemon"}, ClosedStream())
    assert not log.to_stderr


# -- syslog


def test_no_syslog_unless_pacemaker_passes_a_facility(fake_syslog):
    log = logger({}, io.StringIO(), fake_syslog)
    log.info("i")
    assert log.facility is None
    assert fake_syslog.sent == []


def test_syslog_facility_daemon_and_priorities(fake_syslog):
    log = logger({"HA_debug": "yes", "HA_LOGFACILITY": "daemon"}, sink=fake_syslog)
    log.debug("d")
    log.info("i")
    log.warn("w")
    log.error("e")
    opens = [s for s in fake_syslog.sent if s[0] == "openlog"]
    assert opens == [("openlog", "toy(vm1)", syslog.LOG_DAEMON)]  # once, before the first
    assert fake_syslog.messages() == [
        (syslog.LOG_DEBUG, "DEBUG: d"),
        (syslog.LOG_INFO, "INFO: i"),
        (syslog.LOG_WARNING, "WARNING: w"),
        (syslog.LOG_ERR, "ERROR: e"),
    ]


@pytest.mark.parametrize(
    ("name", "code"),
    [("local0", syslog.LOG_LOCAL0), ("LOCAL7", syslog.LOG_LOCAL7), ("user", syslog.LOG_USER)],
)
def test_syslog_facility_names(name, code, fake_syslog):
    log = logger({"HA_LOGFACILITY": name}, sink=fake_syslog)
    assert log.facility == code
    log.info("x")
    assert ("openlog", "toy(vm1)", code) in fake_syslog.sent


def test_kern_is_opened_as_daemon(fake_syslog):
    # facility 0 (kern) is no facility for an agent: it logs as daemon
    logger({"HA_LOGFACILITY": "kern"}, sink=fake_syslog).info("x")
    assert fake_syslog.sent[0] == ("openlog", "toy(vm1)", syslog.LOG_DAEMON)


def test_unknown_facility_falls_back_to_daemon():
    assert logger({"HA_LOGFACILITY": "bogus"}).facility == syslog.LOG_DAEMON


# -- files

LINE = re.compile(r"^toy\(vm1\)\[(\d+)\]: \d{4}/\d\d/\d\d_\d\d:\d\d:\d\d (\w+): (.*)$")


def parsed(path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    result = []
    for line in path.read_text().splitlines():
        m = LINE.match(line)
        assert m, f"unexpected log line format: {line!r}"
        assert int(m.group(1)) == os.getpid()
        result.append((m.group(2), m.group(3)))
    return result


def test_logfile_gets_everything_but_debug(tmp_path):
    logfile = tmp_path / "ha.log"
    log = logger({"HA_LOGFACILITY": "none", "HA_LOGFILE": str(logfile), "HA_debug": "1"})
    log.debug("d")
    log.info("i")
    log.error("e")
    assert parsed(logfile) == [("INFO", "i"), ("ERROR", "e")]


def test_debuglog_gets_debug_and_the_rest_when_separate(tmp_path):
    logfile, debuglog = tmp_path / "ha.log", tmp_path / "debug.log"
    environ = {
        "HA_LOGFACILITY": "none",
        "HA_LOGFILE": str(logfile),
        "HA_DEBUGLOG": str(debuglog),
        "HA_debug": "1",
    }
    log = logger(environ)
    log.debug("d")
    log.warn("w")
    assert parsed(logfile) == [("WARNING", "w")]
    assert parsed(debuglog) == [("DEBUG", "d"), ("WARNING", "w")]


def test_same_file_for_both_logs_has_no_duplicates(tmp_path):
    path = tmp_path / "pacemaker.log"
    environ = {
        "HA_LOGFACILITY": "none",
        "HA_LOGFILE": str(path),
        "HA_DEBUGLOG": str(path),
        "HA_debug": "1",
    }
    log = logger(environ)
    log.debug("d")
    log.info("i")
    assert parsed(path) == [("DEBUG", "d"), ("INFO", "i")]


def test_debuglog_without_ha_debug_gets_no_debug(tmp_path):
    debuglog = tmp_path / "debug.log"
    log = logger({"HA_LOGFACILITY": "none", "HA_DEBUGLOG": str(debuglog), "HA_debug": "0"})
    log.debug("d")
    log.info("i")
    assert parsed(debuglog) == [("INFO", "i")]


def test_files_are_appended_not_truncated(tmp_path):
    logfile = tmp_path / "ha.log"
    logfile.write_text("")
    logger({"HA_LOGFACILITY": "none", "HA_LOGFILE": str(logfile)}).info("one")
    logger({"HA_LOGFACILITY": "none", "HA_LOGFILE": str(logfile)}).info("two")
    assert parsed(logfile) == [("INFO", "one"), ("INFO", "two")]


def test_unwritable_logfile_never_raises(tmp_path):
    log = logger({"HA_LOGFACILITY": "none", "HA_LOGFILE": str(tmp_path / "no" / "such" / "dir")})
    log.error("still fine")
    assert log.messages == [("err", "still fine")]


def test_syslog_and_file_together(tmp_path, fake_syslog):
    logfile = tmp_path / "ha.log"
    log = logger({"HA_LOGFACILITY": "daemon", "HA_LOGFILE": str(logfile)}, sink=fake_syslog)
    log.info("both")
    assert parsed(logfile) == [("INFO", "both")]
    assert fake_syslog.messages() == [(syslog.LOG_INFO, "INFO: both")]
