"""VPP market codes are the preset codes; qualification minimums come from the presets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from openvpp.markets.presets import load_presets
from openvpp.vpp.model import VppSettings
from openvpp.vpp.qualification import LEGACY_CODES, market_codes, qualifications


def test_every_preset_is_a_vpp_market_and_minimums_follow_the_presets() -> None:
    presets = load_presets()
    assert set(presets) == market_codes()
    minimums = qualifications()
    for code, q in minimums.items():
        spec = presets[code].qualification
        assert spec is not None
        assert (q.min_mw, q.min_duration_h, q.basis) == (
            float(spec.min_mw),
            spec.min_duration_h,
            spec.basis,
        )
    assert minimums["CN-SD-DA"].min_mw == 1.0
    assert minimums["DE-FCR"].basis == "response"


@pytest.mark.parametrize(("old", "new"), sorted(LEGACY_CODES.items()))
def test_codes_of_the_first_table_are_read_as_their_successors(old: str, new: str) -> None:
    assert new in market_codes()
    assert VppSettings(markets=[old]).markets == [new]


def test_unknown_and_repeated_markets_are_refused() -> None:
    with pytest.raises(ValidationError, match="unknown market 'XX'"):
        VppSettings(markets=["XX"])
    with pytest.raises(ValidationError, match="twice"):
        VppSettings(markets=["CN-GD-SPOT", "CN-SD-DA"])
