from __future__ import annotations

import pytest
from havirt.ocf.errors import OcfError
from havirt.ocf.exitcodes import OcfExit
from havirt.ocf.params import (
    FALSE_WORDS,
    TRUE_WORDS,
    Parameter,
    ParameterSet,
    Params,
    parse_bool,
)
from ocf_toy import ToyAgent


def param(name: str = "p", **kw) -> Parameter:
    return Parameter(name, f"short {name}", f"long {name}", **kw)


def config_error(p: Parameter, raw: str | None) -> str:
    with pytest.raises(OcfError) as info:
        p.parse(raw)
    assert info.value.code == OcfExit.ERR_CONFIGURED
    assert f"'{p.name}'" in info.value.reason, "the message must name the parameter"
    return info.value.reason


# -- OCF boolean spellings


@pytest.mark.parametrize(
    "text", ["1", "yes", "YES", "Yes", "true", "True", "on", "ON", "ja", "y", "Y", " yes "]
)
def test_parse_bool_true_spellings(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize("text", ["0", "no", "NO", "false", "False", "off", "nein", "n", "", "  "])
def test_parse_bool_false_spellings(text):
    assert parse_bool(text) is False


@pytest.mark.parametrize("text", ["2", "maybe", "tru", "yess", "-1", "enabled"])
def test_parse_bool_neither(text):
    assert parse_bool(text) is None


def test_bool_word_sets_are_disjoint_and_lowercase():
    assert not TRUE_WORDS & FALSE_WORDS
    assert all(w == w.lower() for w in TRUE_WORDS | FALSE_WORDS)
    # what resource-agents' ocf_is_true() accepts as true
    assert {"yes", "y", "1", "true", "on", "ja"} <= TRUE_WORDS


# -- string


def test_string_passes_through_unchanged():
    assert param().parse("  spaced value  ") == "  spaced value  "


def test_string_unset_gives_default_or_none():
    assert param(default="dflt").parse(None) == "dflt"
    assert param().parse(None) is None


def test_string_empty_is_kept_not_replaced_by_default():
    # Like `: ${OCF_RESKEY_x=default}`: an explicitly empty string stays empty.
    assert param(default="dflt").parse("") == ""


def test_required_string_unset_names_parameter_and_fix():
    reason = config_error(param("config", required=True), None)
    assert "not set" in reason
    assert "config=" in reason  # the fix: add config=... to the resource


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_required_string_empty_names_parameter_and_fix(raw):
    reason = config_error(param("config", required=True), raw)
    assert "empty" in reason
    assert "config=" in reason


def test_required_with_default_uses_the_default():
    assert param(required=True, default="x").parse(None) == "x"


# -- choices


def test_choices_accept_listed_values():
    p = param("mode", choices=("safe", "fast"))
    assert p.parse("safe") == "safe"
    assert p.parse("fast") == "fast"


def test_choices_reject_other_values_and_list_the_allowed_ones():
    reason = config_error(param("mode", choices=("safe", "fast")), "turbo")
    assert "'turbo'" in reason
    assert "safe" in reason and "fast" in reason


def test_choices_are_case_sensitive():
    config_error(param("mode", choices=("safe", "fast")), "SAFE")


def test_empty_choice_allows_empty_value_and_is_not_listed_as_a_word():
    p = param("mode", choices=("safe", ""))
    assert p.parse("") == ""
    reason = config_error(p, "x")
    assert "choose one of: safe)" in reason


def test_empty_value_rejected_when_empty_is_not_a_choice():
    config_error(param("mode", choices=("safe", "fast")), "")


def test_choices_unset_not_required_is_none():
    assert param("mode", choices=("safe",)).parse(None) is None


# -- integer


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("42", 42), (" 7 ", 7), ("-3", -3)])
def test_integer_parses(raw, value):
    assert param(type="integer").parse(raw) == value


def test_integer_default_is_parsed_too():
    assert param(type="integer", default="16").parse(None) == 16


@pytest.mark.parametrize("raw", ["", None])
def test_integer_empty_or_unset_falls_back_to_default(raw):
    assert param(type="integer", default="16").parse(raw) == 16
    assert param(type="integer").parse(raw) is None


@pytest.mark.parametrize("raw", ["ten", "1.5", "0x10", "1e3", "12abc", "1_000", "١٢"])
def test_integer_rejects_non_decimal_text(raw):
    reason = config_error(param("count", type="integer"), raw)
    assert "whole number" in reason


def test_integer_error_names_the_unit():
    reason = config_error(param("bw", type="integer", unit="MiB/s"), "fast")
    assert "MiB/s" in reason


def test_integer_minimum():
    p = param("count", type="integer", minimum=1)
    assert p.parse("1") == 1
    reason = config_error(p, "0")
    assert "minimum 1" in reason


def test_required_integer_empty_is_not_set():
    reason = config_error(param("count", type="integer", required=True), "")
    assert "not set" in reason and "count=" in reason


# -- boolean


@pytest.mark.parametrize(("raw", "value"), [("yes", True), ("0", False), ("On", True)])
def test_boolean_parses(raw, value):
    assert param(type="boolean").parse(raw) is value


def test_boolean_default_and_empty():
    p = param(type="boolean", default="true")
    assert p.parse(None) is True
    assert p.parse("") is True  # empty means "use the default" for non-strings
    assert param(type="boolean").parse(None) is None


def test_boolean_rejects_other_words_and_shows_the_spellings():
    reason = config_error(param("force", type="boolean"), "maybe")
    assert "'maybe'" in reason
    assert "true/false" in reason


# -- time


@pytest.mark.parametrize("raw", ["30", "30s", "500ms", "2min", "1h", " 10 s ", "90sec", "5m"])
def test_time_accepts_pacemaker_time_specs(raw):
    # A time stays the text Pacemaker would pass; the agent converts it.
    assert param("grace", type="time").parse(raw) == raw


def test_time_default_and_empty():
    p = param("grace", type="time", default="30s")
    assert p.parse(None) == "30s"
    assert p.parse("") == "30s"


@pytest.mark.parametrize("raw", ["soon", "30 parsecs", "-5s", "s", "1.5.2s"])
def test_time_rejects_malformed_values(raw):
    reason = config_error(param("grace", type="time"), raw)
    assert f"'{raw}'" in reason


# -- custom check


def test_check_receives_parsed_value_and_its_text_is_reported():
    seen = []

    def check(value):
        seen.append(value)
        return None if value < 100 else "too large: use less than 100"

    p = param("n", type="integer", check=check)
    assert p.parse("5") == 5
    reason = config_error(p, "200")
    assert seen == [5, 200]
    assert reason == "parameter 'n': too large: use less than 100"


def test_check_not_called_for_unset_value():
    def check(value):
        raise AssertionError("must not be called")

    assert param(check=check).parse(None) is None


def test_check_returning_empty_string_means_ok():
    assert param(check=lambda v: "").parse("x") == "x"


def test_check_runs_on_default():
    config_error(param("n", type="integer", default="3", check=lambda v: "odd"), None)


# -- ParameterSet


def test_parameter_set_parses_every_declared_parameter():
    params = ToyAgent.parameter_set().parse({"config": "/etc/toy.conf", "count": "6"})
    assert isinstance(params, Params)
    assert params == {
        "config": "/etc/toy.conf",
        "mode": "safe",
        "count": 6,
        "verbose": False,
        "grace": "30s",
        "legacy_path": None,
    }


def test_params_attribute_access():
    params = Params(config="/x", count=2)
    assert params.config == "/x"
    assert params.count == 2
    with pytest.raises(AttributeError):
        _ = params.missing


def test_parameter_set_raises_for_first_invalid():
    with pytest.raises(OcfError) as info:
        ToyAgent.parameter_set().parse({"config": "/etc/toy.conf", "count": "3"})
    assert "'count'" in info.value.reason
    assert "even" in info.value.reason


def test_parameter_set_rejects_duplicate_names():
    with pytest.raises(ValueError, match="duplicate"):
        ParameterSet([param("a"), param("a")])


def test_parameter_set_iterates_and_indexes():
    ps = ParameterSet([param("a"), param("b")])
    assert [p.name for p in ps] == ["a", "b"]
    assert ps.by_name["b"].name == "b"


def test_unknown_parameters_are_reported_sorted():
    ps = ToyAgent.parameter_set()
    given = {"config": "/x", "confg": "/typo", "Mode": "safe", "count": "2"}
    assert ps.unknown(given) == ["Mode", "confg"]


def test_unknown_ignores_what_pacemaker_adds_itself():
    ps = ToyAgent.parameter_set()
    given = {"config": "/x", "crm_feature_set": "3.16.2", "CRM_meta_timeout": "20000"}
    assert ps.unknown(given) == []


def test_parameter_set_is_cached_per_class():
    assert ToyAgent.parameter_set() is ToyAgent.parameter_set()

    class Other(ToyAgent):
        parameters = (param("only"),)

    assert [p.name for p in Other.parameter_set()] == ["only"]
    assert "config" in ToyAgent.parameter_set().by_name
