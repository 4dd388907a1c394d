"""User-defined markets from OPENVPP_MARKET_FILES: listed next to the presets, usable by VPPs
and venue connections."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from openvpp.markets import presets
from openvpp.runtime import Runtime
from openvpp.store import tables as t
from tests.support import bearer, demo

V = "/api/vpp"
MINE = """
markets:
  - code: XX-LOCAL-FLEX
    name: local flexibility market
    venue: auction
    time_zone: Europe/Amsterdam
    currency: EUR
    pricing: pay_as_bid
    price_limits: {min: 0, max: 1000}
    price_tick: 0.01
    volume_tick_mw: 0.1
    min_order_volume_mw: 0.1
    qualification: {min_mw: 0.5, min_duration_h: 1, basis: response}
    products:
      - code: H
        period_min: 60
        gate_closure: {kind: before_delivery, minutes: 60}
"""


@pytest.fixture(autouse=True)
def fresh_user_markets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(presets, "_USER_MARKETS", {})


@pytest.fixture
def settings_overrides(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    path = tmp_path_factory.mktemp("markets") / "mine.yaml"
    path.write_text(MINE, encoding="utf-8")
    return {"market_files": [Path(path)]}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_user_market_is_listed_and_usable(client: TestClient) -> None:
    h = bearer(client, demo("operator"))
    codes = {m["code"] for m in client.get(f"{V}/markets", headers=h).json()}
    assert "XX-LOCAL-FLEX" in codes and "EU-SDAC" in codes
    cal = client.get(
        f"{V}/markets/XX-LOCAL-FLEX/calendar",
        headers=h,
        params={"product": "H", "day": "2026-10-25"},
    ).json()
    assert len(cal["intervals"]) == 25
    # a VPP registered for it without members is below its 0.5 MW minimum: 409
    r = client.post(
        f"{V}/vpps",
        headers=h,
        json={"name": "Flex", "market_area": "NL", "parameters": {"markets": ["XX-LOCAL-FLEX"]}},
    )
    assert r.status_code == 409, r.text
    assert "XX-LOCAL-FLEX" in r.text
    made = client.post(
        f"{V}/market/connections",
        headers=bearer(client, demo("admin")),
        json={
            "name": "Flex venue",
            "kind": "simulated",
            "markets": ["XX-LOCAL-FLEX"],
            "credentials": {"api_key": "k"},
        },
    )
    assert made.status_code == 201, made.text


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_a_vpp_stays_readable_when_its_market_file_is_gone(
    client: TestClient, seeded: Runtime
) -> None:
    h = bearer(client, demo("operator"))
    body = {"name": "Flex", "market_area": "NL", "parameters": {"markets": []}}
    vid = client.post(f"{V}/vpps", headers=h, json=body).json()["id"]
    with seeded.engine.begin() as conn:  # registered while the file was configured
        conn.execute(
            t.vpp_parameters.update()
            .where(t.vpp_parameters.c.vpp_id == vid)
            .values(parameters={"markets": ["XX-GONE"]})
        )
    history = client.get(f"{V}/vpps/{vid}/parameters", headers=h)
    assert history.status_code == 200, history.text
    assert history.json()[-1]["parameters"]["markets"] == ["XX-GONE"]
    assert client.get(f"{V}/conflicts", headers=h).status_code == 200
    # a new version must name known markets
    r = client.post(
        f"{V}/vpps/{vid}/parameters", headers=h, json={"parameters": {"markets": ["XX-GONE"]}}
    )
    assert r.status_code == 422
