"""Settlement through the API on every backend: calculate (roles, idempotent reruns), the
runs and their interval rows, ledger balances, input checks naming the field, and isolation
between organizations."""

from __future__ import annotations

import csv
import io

import openpyxl
import pypdf
import pytest
from fastapi.testclient import TestClient

from openvpp.core.ids import new_id
from openvpp.demo.park import seed_park
from openvpp.runtime import Runtime
from openvpp.settlement.records import RunFilter
from openvpp.settlement.service import CalculateRequest
from openvpp.trading.autobid_records import AutoTradingSetting, DecisionRecord
from tests.integration.settlement_support import DAY, fill, make_book, meter, prices
from tests.integration.test_dispatch_loop import battery
from tests.support import bearer, demo, other_org_operator

S = "/api/vpp/settlement"
A = "/api/vpp/analysis"


def test_calculate_read_and_balance(client: TestClient, seeded: Runtime) -> None:
    book = make_book(seeded)
    fill(seeded, book, book.starts[40], "2", "55.5")  # 0.5 MWh sold: 27.75
    meter(seeded, book, book.starts[40], 1.6)  # 0.1 MWh short at 80: -8.00
    meter(seeded, book, book.starts[40], 1.6, scheduled_mw=2.0, resource="r-a")
    prices(seeded, book, day_ahead=50.0, imbalance=80.0)
    trader, viewer = bearer(client, demo("trader")), bearer(client, demo("viewer"))
    body = {"vpp_id": book.vpp, "market": "EU-SDAC", "first_day": str(DAY), "last_day": str(DAY)}

    assert client.post(f"{S}/calculate", headers=viewer, json=body).status_code == 403
    done = client.post(f"{S}/calculate", headers=trader, json=body)
    assert done.status_code == 200, done.text
    [out] = done.json()
    run = out["run"]
    assert out["status"] == "created" and run["version"] == 1 and run["intervals"] == 100
    # fee 0.5 MWh x 0.04 = 0.02
    assert run["totals_minor"] == {"day_ahead": 2_775, "imbalance": -800, "fee:EXCHANGE": -2}
    assert run["total"] == "19.73" and run["currency"] == "EUR"
    again = client.post(f"{S}/calculate", headers=trader, json=body).json()
    assert again[0]["status"] == "unchanged" and again[0]["run"]["id"] == run["id"]
    assert run["checked_at"] is None and again[0]["run"]["checked_at"] is not None

    listed = client.get(f"{S}/records", headers=viewer, params={"vpp_id": book.vpp})
    assert listed.status_code == 200 and [r["id"] for r in listed.json()] == [run["id"]]
    assert listed.json()[0]["checked_at"] == again[0]["run"]["checked_at"]
    detail = client.get(f"{S}/records/{run['id']}", headers=viewer, params={"limit": 100})
    assert detail.status_code == 200
    rows = detail.json()["intervals"]
    assert len(rows) == 100
    row = rows[40]
    assert row["scheduled_mwh"] == "0.500" and row["metered_mwh"] == "0.400"
    assert row["amounts"]["total"] == "19.73" and row["estimated"] is False
    resource = client.get(
        f"{S}/records/{run['id']}", headers=viewer, params={"resource_id": "r-a", "limit": 100}
    ).json()
    assert resource["resource_id"] == "r-a" and len(resource["intervals"]) == 100

    shares = client.get(f"{S}/records/{run['id']}/contribution", headers=viewer)
    assert shares.status_code == 200, shares.text
    c = shares.json()
    assert c["method"] == "shapley" and [r["resource_id"] for r in c["resources"]] == ["r-a"]
    assert sum(r["total_minor"] for r in c["resources"]) == run["total_minor"]
    bad_method = client.get(
        f"{S}/records/{run['id']}/contribution", headers=viewer, params={"method": "magic"}
    )
    assert bad_method.status_code == 422 and "method" in bad_method.text

    by_account = client.get(f"{S}/ledger/balances", headers=viewer).json()
    balances = {b["account"]: b["balance_minor"] for b in by_account}
    assert balances["asset:market_receivable"] == 1_973 and sum(balances.values()) == 0
    by_period = client.get(
        f"{S}/ledger/balances", headers=viewer, params={"by": "period", "vpp_id": book.vpp}
    ).json()
    assert {b["period"] for b in by_period} == {str(DAY)}

    # another organization sees nothing of it
    other = other_org_operator(client, seeded)
    assert client.get(f"{S}/records/{run['id']}", headers=other).status_code == 404
    assert client.get(f"{S}/records", headers=other).json() == []


def test_bad_requests_name_the_field(client: TestClient, seeded: Runtime) -> None:
    book = make_book(seeded)
    trader = bearer(client, demo("trader"))
    base = {"vpp_id": book.vpp, "market": "EU-SDAC", "first_day": str(DAY), "last_day": str(DAY)}
    cases = [
        ({**base, "market": "NOPE"}, "market"),
        ({**base, "last_day": "2026-10-24"}, "last_day"),
        ({**base, "first_day": 20261025}, "first_day"),
        ({**base, "surprise": 1}, "surprise"),
        ({**base, "product": "XX"}, "product"),
    ]
    for body, field in cases:
        r = client.post(f"{S}/calculate", headers=trader, json=body)
        assert r.status_code == 422, (body, r.text)
        assert field in r.text
    missing = client.post(f"{S}/calculate", headers=trader, json={**base, "vpp_id": "nope"})
    assert missing.status_code == 404 and "vpp_id" in missing.text
    no_prices = client.post(f"{S}/calculate", headers=trader, json=base)
    assert no_prices.status_code == 422 and "price of EU-SDAC" in no_prices.text
    bad = client.get(f"{S}/ledger/balances", headers=trader, params={"by": "day"})
    assert bad.status_code == 422
    with seeded.uow(readonly=True) as uow:
        assert uow.settlement.page(book.org, RunFilter(), 10, 0) == []  # nothing half-written


def test_revenue_and_performance_analysis(client: TestClient, seeded: Runtime) -> None:
    rt = seeded
    book = make_book(rt)
    org = book.org
    admin = book.admin
    seed_park(rt, admin, rt.clock.now())
    bat = battery(rt, admin, "Analysis battery")
    s = book.starts
    fill(rt, book, s[40], "2", "50")  # 0.5 MWh sold: 25.00
    meter(rt, book, s[40], 1.8)  # 0.05 MWh short at 80: -4.00
    meter(rt, book, s[40], 1.8, scheduled_mw=2.0, resource=bat)
    prices(rt, book, day_ahead=50.0, imbalance=80.0)
    [out] = rt.settlement.calculate(rt.uow(), org, CalculateRequest(book.vpp, "EU-SDAC", DAY, DAY))
    assert out.run.total == 2_500 - 400 - 2
    viewer = bearer(client, demo("viewer"))
    days = {"first_day": str(DAY), "last_day": str(DAY)}

    by_day = client.get(f"{A}/revenue", headers=viewer, params=days)
    assert by_day.status_code == 200, by_day.text
    assert by_day.json() == [
        {
            "group": {"day": str(DAY), "currency": "EUR"},
            "currency": "EUR",
            "revenue_minor": 2_500,
            "costs_minor": -402,
            "pnl_minor": 2_098,
        }
    ]
    typed = client.get(
        f"{A}/revenue", headers=viewer, params={**days, "by": "resource_type,vpp"}
    ).json()
    assert [(r["group"]["resource_type"], r["pnl_minor"]) for r in typed] == [("battery", 2_098)]
    unknown = client.get(f"{A}/revenue", headers=viewer, params={**days, "by": "day,hour"})
    assert unknown.status_code == 422 and "hour" in unknown.text
    backwards = client.get(
        f"{A}/revenue", headers=viewer, params={"first_day": str(DAY), "last_day": "2026-10-01"}
    )
    assert backwards.status_code == 422 and "last_day" in backwards.text

    perf = client.get(f"{A}/performance", headers=viewer, params={**days, "vpp_id": book.vpp})
    assert perf.status_code == 200
    [p] = perf.json()
    assert p["scheduled_mwh"] == "0.500" and p["metered_mwh"] == "0.450"
    assert p["deviation_share"] == 0.1 and p["estimated_intervals"] == 99
    assert p["pnl"] == "20.98" and p["pnl_per_mwh"] == "41.9600"


def test_reports_in_every_format(client: TestClient, seeded: Runtime) -> None:
    rt = seeded
    book = make_book(rt)
    fill(rt, book, book.starts[40], "2", "50")  # 25.00
    meter(rt, book, book.starts[40], 1.8)  # -4.00
    prices(rt, book, day_ahead=50.0, imbalance=80.0)
    rt.settlement.calculate(rt.uow(), book.org, CalculateRequest(book.vpp, "EU-SDAC", DAY, DAY))
    viewer = bearer(client, demo("viewer"))
    days = {"first_day": str(DAY), "last_day": str(DAY)}

    def get(fmt: str) -> bytes:
        r = client.get("/api/vpp/reports/generate", headers=viewer, params={**days, "format": fmt})
        assert r.status_code == 200, r.text
        assert f"settlement_{DAY}_{DAY}.{fmt}" in r.headers["content-disposition"]
        return r.content

    rows = list(csv.DictReader(io.StringIO(get("csv").decode())))
    assert [(r["day"], r["market"], r["pnl"]) for r in rows] == [(str(DAY), "EU-SDAC", "20.98")]
    book_ = openpyxl.load_workbook(io.BytesIO(get("xlsx")))
    assert book_.sheetnames == ["Summary", "Daily", "Markets", "Resource types", "Performance"]
    summary = list(book_["Summary"].iter_rows(values_only=True))
    assert summary[0] == ("currency", "revenue", "costs", "pnl")
    assert summary[1][0] == "EUR" and float(summary[1][3]) == 20.98
    assert book_["Daily"]._charts  # the P&L chart
    performance = list(book_["Performance"].iter_rows(values_only=True))
    pnl = performance[0].index("pnl")
    assert float(performance[1][pnl]) == 20.98  # in currency units, not minor units
    page = get("html").decode()
    assert "data:image/png;base64," in page and "20.98" in page
    text = "".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(get("pdf"))).pages)
    assert "Settlement report" in text and "20.98" in text
    bad = client.get("/api/vpp/reports/generate", headers=viewer, params={**days, "format": "doc"})
    assert bad.status_code == 422 and "format" in bad.text


def test_strategy_performance_against_perfect_foresight(
    client: TestClient, seeded: Runtime
) -> None:
    rt = seeded
    book = make_book(rt)
    now = rt.clock.now()
    n = len(book.starts)  # 100 quarter-hours
    # prices: 10 in the first 8 quarter-hours, 90 in the next 8, 50 otherwise
    day_ahead = [10.0] * 8 + [90.0] * 8 + [50.0] * (n - 16)
    prices(rt, book, day_ahead=day_ahead, imbalance=50.0)
    # an empty 1 MW / 2 MWh store that must end empty: injected energy in [-2, 0], 0 at the end
    flex = {
        "baseline_mw": [0.0] * n,
        "p_min_mw": [-1.0] * n,
        "p_max_mw": [1.0] * n,
        "e_min_mwh": [-2.0] * (n - 1) + [0.0],
        "e_max_mwh": [0.0] * n,
        "ramp_up_mw": [None] * n,
        "ramp_down_mw": [None] * n,
    }
    with rt.uow() as uow:
        uow.auto_trading.upsert(
            AutoTradingSetting(
                book.org, book.vpp, "EU-SDAC", "QH", True, "schedule", None, None, 360, 15,
                now, None,
            )
        )  # fmt: skip
        uow.bid_decisions.insert(
            DecisionRecord(
                new_id(), book.org, book.vpp, "EU-SDAC", "QH", DAY, now, "submitted",
                "schedule", {"flexibility": flex}, {"expected_revenue": 150.0}, {}, None,
                now, now,
            )
        )  # fmt: skip
        uow.commit()
    # half the optimal cycle traded: 1 MWh bought at 10, sold at 90 -> 80.00
    for k in range(4):
        fill(rt, book, book.starts[k], "1", "10", side="buy")
        fill(rt, book, book.starts[8 + k], "1", "90")
    rt.settlement.calculate(rt.uow(), book.org, CalculateRequest(book.vpp, "EU-SDAC", DAY, DAY))
    viewer = bearer(client, demo("viewer"))
    listed = client.get("/api/vpp/strategies", headers=viewer).json()
    sid = f"{book.vpp}:EU-SDAC:QH"
    assert sid in [s["id"] for s in listed]
    r = client.get(
        f"/api/vpp/strategies/{sid}/performance",
        headers=viewer,
        params={"first_day": str(DAY), "last_day": str(DAY)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    [d] = body["days"]
    # the whole cycle with perfect foresight: 2 MWh x (90 - 10) = 160.00
    assert d["perfect_foresight_revenue"] == pytest.approx(160.0, abs=0.01)
    assert d["settled_revenue"] == "80.00" and d["capture_ratio"] == 0.5
    assert d["expected_revenue"] == 150.0
    assert body["capture_ratio"] == 0.5 and body["compared_days"] == 1
    bad = client.get(
        "/api/vpp/strategies/nonsense/performance",
        headers=viewer,
        params={"first_day": str(DAY), "last_day": str(DAY)},
    )
    assert bad.status_code == 422 and "strategy_id" in bad.text
    missing = client.get(
        f"/api/vpp/strategies/{book.vpp}:EU-SDAC:H/performance",
        headers=viewer,
        params={"first_day": str(DAY), "last_day": str(DAY)},
    )
    assert missing.status_code == 404
