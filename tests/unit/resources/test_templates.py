"""Template library: every parameter has a unit and a range; validation names the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openvpp.resources.templates import (
    BUILTIN,
    BatteryParameters,
    ResourceType,
    json_schema,
    parameters_model,
)


@pytest.mark.parametrize(("kind", "version"), sorted(BUILTIN))
def test_every_parameter_has_a_unit_and_its_default_validates(
    kind: ResourceType, version: int
) -> None:
    schema = json_schema(kind, version)
    for name, prop in schema["properties"].items():
        if prop.get("type") in ("number", "integer"):
            assert "unit" in prop, (kind, name)
            assert {"minimum", "exclusiveMinimum"} & set(prop), (kind, name)
        assert "default" in prop, (kind, name)
    parameters_model(kind, version)()  # defaults form a valid set


def test_all_eight_types_are_in_the_library() -> None:
    assert {kind for kind, _ in BUILTIN} == set(ResourceType)


def test_out_of_range_value_names_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        BatteryParameters(eta_charge=1.5)
    assert err.value.errors()[0]["loc"] == ("eta_charge",)


def test_cross_field_rule_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="soc_min must be below soc_max"):
        BatteryParameters(soc_min=0.9, soc_max=0.5)
    with pytest.raises(ValidationError, match="extra"):
        BatteryParameters(capacity=3)  # type: ignore[call-arg]


def test_unknown_version_is_refused() -> None:
    with pytest.raises(KeyError, match="no template pv v9"):
        parameters_model(ResourceType.PV, 9)


def test_wind_turbine_must_exist_in_the_library() -> None:
    from openvpp.resources.templates import WindParameters

    assert WindParameters(turbine_type="V126/3300").turbine_type == "V126/3300"
    with pytest.raises(ValidationError) as err:
        WindParameters(turbine_type="Imaginary-9000")
    assert err.value.errors()[0]["loc"] == ("turbine_type",)
