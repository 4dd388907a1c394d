"""Device templates: limits only narrow, defaults are checked, libraries round-trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from openvpp.core.errors import ValidationFailed
from openvpp.resources.device_templates import (
    DeviceTemplateSpec,
    apply,
    export_library,
    parse_library,
    upgraded_parameters,
    validate_spec,
)
from openvpp.resources.templates import BUILTIN, Parameters, ResourceType, _f

MEGAPACK = DeviceTemplateSpec(
    key="megapack-2xl",
    version=1,
    resource_type=ResourceType.BATTERY,
    model_version=1,
    description="Tesla Megapack 2 XL, one unit",
    defaults={"energy_mwh": 3.9, "p_charge_max_mw": 1.9, "p_discharge_max_mw": 1.9},
    limits={"energy_mwh": {"minimum": 3.9, "maximum": 3.9}, "p_charge_max_mw": {"maximum": 1.9}},
)


def spec(**changes: Any) -> DeviceTemplateSpec:
    return DeviceTemplateSpec(
        **{**MEGAPACK.document(), "resource_type": ResourceType.BATTERY, **changes}
    )


def failure(given: DeviceTemplateSpec) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as err:
        validate_spec(given)
    return err.value


def test_a_valid_spec_is_normalized() -> None:
    checked = validate_spec(spec(defaults={"energy_mwh": 4, "p_charge_max_mw": 1.9}, limits={}))
    assert checked.defaults == {"energy_mwh": 4.0, "p_charge_max_mw": 1.9}
    assert isinstance(checked.defaults["energy_mwh"], float)
    assert validate_spec(MEGAPACK) == MEGAPACK


@pytest.mark.parametrize(
    ("limits", "field", "words"),
    [
        ({"energy_mwh": {"maximum": 20000}}, "limits.energy_mwh.maximum", "at most 10000"),
        ({"energy_mwh": {"minimum": 0}}, "limits.energy_mwh.minimum", "greater than 0"),
        ({"eta_charge": {"minimum": 0.2}}, "limits.eta_charge.minimum", "greater than 0.5"),
        ({"energy_mwh": {"minimum": 5, "maximum": 4}}, "limits.energy_mwh.minimum", "maximum 4"),
        ({"capacity": {"maximum": 3}}, "limits.capacity", "no such parameter"),
        ({"energy_mwh": {"enum": [1]}}, "limits.energy_mwh", "minimum and/or maximum"),
        ({"energy_mwh": {}}, "limits.energy_mwh", "minimum and/or maximum"),
        ({"energy_mwh": {"maximum": "4"}}, "limits.energy_mwh.maximum", "finite number"),
        ({"energy_mwh": {"maximum": True}}, "limits.energy_mwh.maximum", "finite number"),
        ({"energy_mwh": {"maximum": 10**400}}, "limits.energy_mwh.maximum", "finite number"),
        ({"energy_mwh": 4}, "limits.energy_mwh", "must be an object"),
    ],
)
def test_limits_may_only_narrow_the_builtin_range(
    limits: dict[str, Any], field: str, words: str
) -> None:
    err = failure(spec(defaults={"energy_mwh": 4.5}, limits=limits))
    assert err.field == field
    assert words in err.message


def test_narrowing_limits_are_accepted_and_name_the_unit() -> None:
    checked = validate_spec(
        spec(defaults={}, limits={"eta_charge": {"minimum": 0.9}, "soc_max": {"maximum": 0.95}})
    )
    assert checked.limits == {"eta_charge": {"minimum": 0.9}, "soc_max": {"maximum": 0.95}}
    err = failure(spec(defaults={}, limits={"energy_mwh": {"maximum": 20000}}))
    assert "[MWh]" in err.message and "maximum 10000" in err.message


def test_text_parameters_take_an_enum_of_valid_values() -> None:
    load = DeviceTemplateSpec(
        key="cold-store",
        version=1,
        resource_type=ResourceType.CURTAILABLE_LOAD,
        model_version=1,
        defaults={"profile": "G1"},
        limits={"profile": {"enum": ["G1", "G25"]}},
    )
    assert validate_spec(load).limits == {"profile": {"enum": ["G1", "G25"]}}
    bad = DeviceTemplateSpec(**{**load.__dict__, "limits": {"profile": {"enum": ["G1", "no way"]}}})
    assert failure(bad).field == "limits.profile.enum[1]"
    outside = DeviceTemplateSpec(**{**load.__dict__, "defaults": {"profile": "H0"}})
    err = failure(outside)
    assert err.field == "defaults.profile"
    assert "'G1', 'G25'" in err.message
    wind = DeviceTemplateSpec(
        key="e101",
        version=1,
        resource_type=ResourceType.WIND,
        model_version=1,
        limits={"turbine_type": {"enum": ["E-101/3050", "Imaginary-9000"]}},
    )
    assert failure(wind).field == "limits.turbine_type.enum[1]"


def test_defaults_are_checked_against_the_model_and_the_limits() -> None:
    err = failure(spec(defaults={"eta_charge": 1.4}, limits={}))
    assert err.field == "defaults.eta_charge"
    assert "[fraction]" in err.message
    assert failure(spec(defaults={"colour": "red"}, limits={})).field == "defaults.colour"
    inside = failure(spec(defaults={"energy_mwh": 5.0}))
    assert inside.field == "defaults.energy_mwh"
    assert "minimum 3.9, maximum 3.9" in inside.message
    # A built-in default the template keeps (energy_mwh 2.0) must fit the limits too.
    kept = failure(spec(defaults={}, limits={"energy_mwh": {"minimum": 3.0}}))
    assert kept.field == "defaults.energy_mwh"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": "Megapack"}, "key"),
        ({"key": ""}, "key"),
        ({"key": "megapack\n"}, "key"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"model_version": 7}, "model_version"),
        ({"description": "x" * 501}, "description"),
    ],
)
def test_identity_fields_are_checked(changes: dict[str, Any], field: str) -> None:
    assert failure(spec(**changes)).field == field


def test_apply_merges_defaults_and_enforces_limits() -> None:
    params = apply(MEGAPACK, {"eta_charge": 0.9})
    assert params["energy_mwh"] == 3.9
    assert params["eta_charge"] == 0.9
    assert params["soc_min"] == 0.05  # built-in default
    with pytest.raises(ValidationFailed) as err:
        apply(MEGAPACK, {"energy_mwh": 5.0})
    assert err.value.field == "parameters.energy_mwh"
    message = err.value.message
    assert "[MWh]" in message and "minimum 3.9, maximum 3.9" in message
    assert "megapack-2xl v1" in message
    with pytest.raises(ValidationFailed) as err:
        apply(MEGAPACK, {"p_charge_max_mw": 2.5})
    assert err.value.field == "parameters.p_charge_max_mw"
    assert "exclusiveMinimum 0, maximum 1.9" in err.value.message  # built-in lower bound kept
    with pytest.raises(ValidationFailed) as err:
        apply(MEGAPACK, {"eta_charge": 1.5})
    assert err.value.field == "parameters.eta_charge"


class BatteryV99(Parameters):
    """A test-only model version: drops degradation cost, adds a cycle limit, caps energy."""

    energy_mwh: float = _f(2.0, "MWh", "usable energy capacity", gt=0, le=8)
    p_charge_max_mw: float = _f(1.0, "MW", "maximum charging power", gt=0, le=5000)
    p_discharge_max_mw: float = _f(1.0, "MW", "maximum discharging power", gt=0, le=5000)
    eta_charge: float = _f(0.95, "fraction", "charging efficiency", gt=0.5, le=1)
    eta_discharge: float = _f(0.95, "fraction", "discharging efficiency", gt=0.5, le=1)
    soc_min: float = _f(0.05, "fraction", "lowest state of charge", ge=0, lt=1)
    soc_max: float = _f(0.95, "fraction", "highest state of charge", gt=0, le=1)
    self_discharge_per_h: float = _f(0.0, "1/h", "stored energy lost per hour", ge=0, le=0.05)
    max_cycles_per_day: float = _f(2.0, "1/d", "full cycles per day", gt=0, le=10)


@pytest.fixture
def battery_v99(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setitem(BUILTIN, (ResourceType.BATTERY, 99), BatteryV99)
    return 99


def test_upgrade_keeps_values_adds_defaults_and_reports_dropped_fields(battery_v99: int) -> None:
    current = apply(validate_spec(spec(limits={}, defaults={})), {"energy_mwh": 4.0})
    plan = upgraded_parameters(current, ResourceType.BATTERY, battery_v99)
    assert plan.parameters["energy_mwh"] == 4.0
    assert plan.parameters["max_cycles_per_day"] == 2.0
    assert "degradation_cost_per_mwh" not in plan.parameters
    assert plan.removed == ["degradation_cost_per_mwh"]
    assert plan.added == ["max_cycles_per_day"]
    back = upgraded_parameters(plan.parameters, ResourceType.BATTERY, 1)  # downgrade
    assert back.parameters["degradation_cost_per_mwh"] == 10.0
    with pytest.raises(ValidationFailed) as err:
        upgraded_parameters({**current, "energy_mwh": 9.0}, ResourceType.BATTERY, battery_v99)
    assert err.value.field == "parameters.energy_mwh"
    assert "[MWh]" in err.value.message and "maximum 8" in err.value.message
    with pytest.raises(ValidationFailed) as err:
        upgraded_parameters(current, ResourceType.BATTERY, 98)
    assert err.value.field == "template_version"


def test_upgrade_to_a_device_template_checks_its_limits() -> None:
    current = apply(validate_spec(spec(limits={}, defaults={})), {"energy_mwh": 4.0})
    with pytest.raises(ValidationFailed) as err:
        upgraded_parameters(current, ResourceType.BATTERY, 1, MEGAPACK)
    assert err.value.field == "parameters.energy_mwh"
    fits = upgraded_parameters({**current, "energy_mwh": 3.9}, ResourceType.BATTERY, 1, MEGAPACK)
    assert fits.parameters["energy_mwh"] == 3.9
    assert fits.parameters["p_charge_max_mw"] == 1.0  # current values win over defaults


OTHER = DeviceTemplateSpec(
    key="roof-pv",
    version=2,
    resource_type=ResourceType.PV,
    model_version=1,
    defaults={"dc_capacity_mw": 0.1, "ac_capacity_mw": 0.08},
)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_export_and_parse_round_trip(fmt: str) -> None:
    text = export_library(BUILTIN, [OTHER, MEGAPACK], fmt)
    document = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert document["format_version"] == 1
    assert {(b["resource_type"], b["version"]) for b in document["builtin_templates"]} == {
        (kind.value, version) for kind, version in BUILTIN
    }
    battery = next(b for b in document["builtin_templates"] if b["resource_type"] == "battery")
    assert battery["parameters_schema"]["properties"]["energy_mwh"]["unit"] == "MWh"
    assert [t["key"] for t in document["templates"]] == ["megapack-2xl", "roof-pv"]
    assert parse_library(text, fmt) == [validate_spec(MEGAPACK), validate_spec(OTHER)]


def library(*templates: dict[str, Any], **top: Any) -> str:
    return json.dumps({"format_version": 1, "templates": list(templates), **top})


@pytest.mark.parametrize(
    ("text", "fmt", "field"),
    [
        ("{not json", "json", "body"),
        ("a: [1, 2", "yaml", "body"),
        ("[]", "json", "body"),
        ('{"format_version": NaN, "templates": []}', "json", "body"),
        (library(format_version=2), "json", "format_version"),
        (library(builtin_templates={}), "json", "builtin_templates"),
        (
            library(builtin_templates=[{"resource_type": {}, "version": 1}]),
            "json",
            "builtin_templates[0].resource_type",
        ),
        (
            library(builtin_templates=[{"resource_type": "pv", "version": 1}]),
            "json",
            "builtin_templates[0].parameters_schema",
        ),
        (library(extra=1), "json", "extra"),
        ('{"format_version": 1}', "json", "templates"),
        (
            library(MEGAPACK.document(), {**OTHER.document(), "colour": 1}),
            "json",
            "templates[1].colour",
        ),
        (
            library({"key": "x", "version": 1, "model_version": 1}),
            "json",
            "templates[0].resource_type",
        ),
        (
            library(MEGAPACK.document(), {**OTHER.document(), "defaults": {"tilt_deg": 99}}),
            "yaml",
            "templates[1].defaults.tilt_deg",
        ),
        (
            library({**MEGAPACK.document(), "limits": {"energy_mwh": {"maximum": 1e6}}}),
            "json",
            "templates[0].limits.energy_mwh.maximum",
        ),
        (
            library(MEGAPACK.document(), {**MEGAPACK.document(), "description": "changed"}),
            "json",
            "templates[1]",
        ),
    ],
)
def test_parse_names_the_first_problem(text: str, fmt: str, field: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        parse_library(text, fmt)
    assert err.value.field == field
    assert err.value.message.startswith(field) or field == "body"


def test_parse_ignores_builtins_and_dedupes_identical_entries() -> None:
    text = library(
        MEGAPACK.document(),
        MEGAPACK.document(),
        builtin_templates=[
            {"resource_type": "pv", "version": 7, "parameters_schema": {}, "note": "ignored"}
        ],
    )
    assert parse_library(text, "json") == [validate_spec(MEGAPACK)]
    assert parse_library(yaml.safe_dump(json.loads(text)), "yaml") == [validate_spec(MEGAPACK)]
