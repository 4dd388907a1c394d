"""Market rules, calendars and gate times through the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.support import bearer, demo

V = "/api/vpp"


def test_markets_list_and_one_market(client: TestClient) -> None:
    h = bearer(client, demo("viewer"))
    r = client.get(f"{V}/markets", headers=h)
    assert r.status_code == 200
    codes = {m["code"] for m in r.json()}
    assert {"EU-SDAC", "EU-SIDC", "DE-FCR", "CN-SD-DA", "US-ISO-DA"} <= codes
    one = client.get(f"{V}/markets/EU-SDAC", headers=h).json()
    assert one["time_zone"] == "Europe/Brussels"
    assert {p["code"] for p in one["products"]} == {"QH", "HH", "H"}
    assert client.get(f"{V}/markets/NOPE", headers=h).status_code == 404


def test_calendar_counts_dst_days_and_gates(client: TestClient) -> None:
    h = bearer(client, demo("viewer"))
    counts = {}
    for day in ("2026-03-29", "2026-06-01", "2026-10-25"):
        r = client.get(
            f"{V}/markets/EU-SDAC/calendar", headers=h, params={"product": "QH", "day": day}
        )
        assert r.status_code == 200, r.text
        counts[day] = len(r.json()["intervals"])
    assert counts == {"2026-03-29": 92, "2026-06-01": 96, "2026-10-25": 100}
    first = client.get(
        f"{V}/markets/EU-SDAC/calendar", headers=h, params={"product": "H", "day": "2026-06-01"}
    ).json()["intervals"][0]
    # delivery 2026-06-01 00:00 CEST = 05-31 22:00Z; gate closure 12:00 CEST on D-1
    assert first["start"].startswith("2026-05-31T22:00:00")
    assert first["gate_closure"].startswith("2026-05-31T10:00:00")


def test_calendar_and_gate_refuse_bad_input(client: TestClient) -> None:
    h = bearer(client, demo("viewer"))
    bad = client.get(
        f"{V}/markets/EU-SDAC/calendar", headers=h, params={"product": "XX", "day": "2026-06-01"}
    )
    assert bad.status_code == 422
    assert "product" in bad.text
    far = client.get(
        f"{V}/markets/EU-SDAC/calendar", headers=h, params={"product": "H", "day": "9999-01-01"}
    )
    assert far.status_code == 422
    naive = client.get(
        f"{V}/markets/EU-SDAC/gate", headers=h, params={"product": "H", "at": "2026-06-01T10:00"}
    )
    assert naive.status_code == 422


def test_next_gate_closure(client: TestClient) -> None:
    h = bearer(client, demo("trader"))
    r = client.get(
        f"{V}/markets/EU-SDAC/gate",
        headers=h,
        params={"product": "H", "at": "2026-06-01T09:59:00Z"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["next_gate_closure"].startswith("2026-06-01T10:00:00")
    assert body["first_interval_start"].startswith("2026-06-01T22:00:00")
    assert body["open_for_first_interval"] is True
    after = client.get(
        f"{V}/markets/EU-SDAC/gate",
        headers=h,
        params={"product": "H", "at": "2026-06-01T10:00:00Z"},
    ).json()
    assert after["next_gate_closure"].startswith("2026-06-02T10:00:00")
