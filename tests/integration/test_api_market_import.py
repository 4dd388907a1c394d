"""Market data file import through the API (samples shipped in tests/data/markets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from openvpp.runtime import Runtime
from tests.support import bearer, demo

V = "/api/vpp"
SAMPLES = Path(__file__).resolve().parents[1] / "data" / "markets"


def upload(client: TestClient, h: dict[str, str], name: str, **params: str) -> Any:
    return client.post(
        f"{V}/market/data/import",
        headers={**h, "content-type": "application/octet-stream"},
        params={"filename": name, **params},
        content=(SAMPLES / name).read_bytes(),
    )


def test_energinet_import_is_sniffed_repaired_and_idempotent(client: TestClient) -> None:
    h = bearer(client, demo("trader"))
    r = upload(client, h, "energinet_DK1_excerpt.csv")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["format"] == "energinet"
    assert body["values_stored"] == body["values_parsed"] > 0
    assert sum(body["report"]["repaired"].values()) >= 1
    assert {s["series"] for s in body["series"]} == {"price", "price_dkk"}
    again = upload(client, h, "energinet_DK1_excerpt.csv").json()
    assert again["values_stored"] == 0
    assert again["duplicates"] == body["values_parsed"]
    series = client.get(f"{V}/market/data/series", headers=h, params={"market": "EU-SDAC"}).json()
    price = next(s for s in series if s["series"] == "price")
    assert price["area"] == "DK1" and price["unit"] == "EUR/MWh"
    audit = client.get(
        f"{V}/audit", headers=bearer(client, demo("admin")), params={"action": "market_data.import"}
    ).json()
    assert len(audit) == 2


def test_epftoolbox_needs_its_market_and_stores_exogenous_series(client: TestClient) -> None:
    h = bearer(client, demo("operator"))
    missing = upload(client, h, "epftoolbox_NP_excerpt.csv", format="epftoolbox")
    assert missing.status_code == 422
    assert "market" in missing.text
    r = upload(
        client, h, "epftoolbox_NP_excerpt.csv", format="epftoolbox", market="EU-SDAC", area="NP"
    )
    assert r.status_code == 201, r.text
    got = {s["series"] for s in r.json()["series"]}
    assert "price" in got and len(got) == 3
    first = r.json()["series"][0]
    q = client.get(
        f"{V}/market/data",
        headers=h,
        params={
            "market": "EU-SDAC",
            "area": "NP",
            "product": "H",
            "start": first["first_start"],
            "end": "2030-01-01T00:00:00Z",
            "resolution": 1440,
        },
    )
    assert q.status_code == 422  # more than 400 days
    assert "end" in q.text


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"format": "nope"}, "format"),
        ({"format": "energinet", "area": "DK1"}, "area"),
        ({"format": "epftoolbox", "market": "EU-SDAC", "period_min": "x"}, "period_min"),
        ({"format": "epftoolbox", "market": "EU-SDAC", "period_min": "\u00b2"}, "period_min"),
        ({"format": "epftoolbox", "market": "EU-SDAC", "time_zone": "America"}, "file"),
    ],
)
def test_bad_import_options_are_named(
    client: TestClient, params: dict[str, str], field: str
) -> None:
    h = bearer(client, demo("trader"))
    r = upload(client, h, "energinet_DK1_excerpt.csv", **params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field


def test_garbage_and_empty_bodies_store_nothing(client: TestClient, seeded: Runtime) -> None:
    h = bearer(client, demo("trader"))
    for body in (b"", b"\x00\x01garbage", b"HourUTC;HourDK\n2020-01-01 00:00;broken"):
        r = client.post(
            f"{V}/market/data/import",
            headers={**h, "content-type": "text/csv"},
            content=body,
        )
        assert r.status_code == 422, r.text
    assert client.get(f"{V}/market/data/imports", headers=h).json() == []
    assert client.get(f"{V}/market/data/series", headers=h).json() == []


def test_viewer_may_not_import(client: TestClient) -> None:
    r = upload(client, bearer(client, demo("viewer")), "energinet_DK1_excerpt.csv")
    assert r.status_code == 403
