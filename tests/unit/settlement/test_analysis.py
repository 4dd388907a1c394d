from datetime import date

import pandas as pd
import pytest

from openvpp.settlement.analysis import classify, pnl_table


def lines() -> pd.DataFrame:
    rows = [
        ("a", "v1", "EU-SDAC", "EUR", date(2026, 6, 29), "day_ahead", 10_000),
        ("a", "v1", "EU-SDAC", "EUR", date(2026, 6, 29), "imbalance", -500),
        ("a", "v1", "EU-SDAC", "EUR", date(2026, 6, 29), "fee:EXCHANGE", -7),
        ("b", "v1", "EU-SDAC", "EUR", date(2026, 7, 1), "day_ahead", -2_000),
        ("c", "v2", "CN-SD-DR", "CNY", date(2026, 7, 1), "response_payment", 400_000),
        ("c", "v2", "CN-SD-DR", "CNY", date(2026, 7, 1), "under_delivery_penalty", -50_000),
    ]
    frame = pd.DataFrame(
        rows, columns=["run_id", "vpp", "market", "currency", "day", "line", "amount"]
    )
    frame["kind"] = [classify(x) for x in frame["line"]]
    return frame


def test_pnl_by_day_month_and_vpp_never_mixes_currencies():
    by_day = pnl_table(lines(), ["day"])
    assert by_day.to_dict("records") == [
        {"day": "2026-06-29", "currency": "EUR", "revenue": 10_000, "costs": -507, "pnl": 9_493},
        {
            "day": "2026-07-01",
            "currency": "CNY",
            "revenue": 400_000,
            "costs": -50_000,
            "pnl": 350_000,
        },
        {"day": "2026-07-01", "currency": "EUR", "revenue": -2_000, "costs": 0, "pnl": -2_000},
    ]
    by_month = pnl_table(lines(), ["month", "vpp"])
    assert by_month[["month", "vpp", "pnl"]].values.tolist() == [
        ["2026-06", "v1", 9_493],
        ["2026-07", "v1", -2_000],
        ["2026-07", "v2", 350_000],
    ]
    by_week = pnl_table(lines(), ["week"])
    assert set(by_week["week"]) == {"2026-06-29"}  # Monday of the ISO week of both days
    with pytest.raises(ValueError, match="unknown grouping 'hour'"):
        pnl_table(lines(), ["hour"])
    empty = pnl_table(lines().iloc[0:0], ["market"])
    assert list(empty.columns) == ["market", "currency", "revenue", "costs", "pnl"]
