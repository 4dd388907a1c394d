"""The market data parsers on the full real files in /work/shared/data (see its README.md).

Skipped when the directory is missing (a user's clone only has the excerpts in
tests/data/markets).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from openvpp.markets.data import KEY, read_market_file

SHARED = Path("/work/shared/data")
PRICES = SHARED / "ancillary_and_prices"


@pytest.fixture(autouse=True)
def _shared_data() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"real data directory {SHARED} is missing (only available in the dev box)")


@pytest.mark.parametrize("name", ["NP", "PJM", "BE"])
def test_epftoolbox_full_files(name: str) -> None:
    path = SHARED / "epftoolbox" / "datasets" / f"{name}.csv"
    parsed = read_market_file(path, market="EU-SDAC")
    frame = parsed.frame
    prices = frame[frame["series"] == "price"]
    assert parsed.report.rows_read == 52_416
    assert len(prices) == 52_416
    assert len(frame) == 3 * 52_416  # price and two exogenous forecasts
    assert set(frame["area"]) == {name}
    assert not parsed.report.rejected
    assert prices["start"].is_unique
    assert (prices["start"].diff().dropna() == pd.Timedelta(hours=1)).all()
    assert (frame["known_at"] < frame["start"]).all()


def test_energinet_full_file() -> None:
    parsed = read_market_file(PRICES / "Energinet_Elspotprices_DK1_2020-2021.csv")
    report = parsed.report
    frame = parsed.frame
    assert report.rows_read == 17_545
    # the README counts 1,926 corrupted rows with a ratio threshold; re-inserting the
    # dropped zeros fits 2,492 rows to the day's EUR/DKK rate (see docs/markets.md)
    assert report.repaired == {"hour_utc_mismatch": 1, "eur_dropped_zero": 2_492}
    assert not report.rejected
    prices = frame[frame["series"] == "price"]
    assert len(prices) == 17_545
    assert prices["start"].is_unique
    assert not frame.duplicated(list(KEY)).any()
    assert prices["start"].min() == pd.Timestamp("2019-12-31 23:00", tz="UTC")
    assert prices["start"].max() == pd.Timestamp("2021-12-31 23:00", tz="UTC")
    assert (prices["start"].diff().dropna() == pd.Timedelta(hours=1)).all()
    # after the repair every EUR price matches DKK / rate within 0.5 %
    dkk = frame[frame["series"] == "price_dkk"].set_index("start")["value"]
    eur = prices.set_index("start")["value"]
    ratio = (dkk / eur)[dkk.abs() > 5]
    assert ratio.between(7.40, 7.49).all()


@pytest.mark.parametrize(
    ("year", "rows", "tender_1", "blocks"),
    [(2020, 1_334, 1_286, {1440, 1380, 240, 300}), (2021, 2_220, 2_184, {240, 180, 300}),
     (2022, 1_482, 1_458, {240, 180})],
)  # fmt: skip
def test_regelleistung_full_files(year: int, rows: int, tender_1: int, blocks: set[int]) -> None:
    parsed = read_market_file(PRICES / f"regelleistung_RESULT_CAPACITY_{year}_FCR.csv")
    report = parsed.report
    assert report.rows_read == rows
    assert report.skipped["tender_number_not_1"] == rows - tender_1
    assert not report.rejected
    frame = parsed.frame
    de = frame[(frame["area"] == "DE") & (frame["series"] == "capacity_price")]
    assert len(de) == tender_1
    assert set(de["period_min"]) == blocks
    # blocks never overlap; the only gap is the missing 2021-10-02 (2021 has 364 x 6 blocks)
    end = de["start"] + pd.to_timedelta(de["period_min"], unit="min")
    gap = de["start"].iloc[1:].to_numpy() - end.iloc[:-1].to_numpy()
    assert (gap >= pd.Timedelta(0)).all()
    assert (gap > pd.Timedelta(0)).sum() == (1 if year == 2021 else 0)
    assert (frame["known_at"] < frame["start"]).all()


@pytest.mark.parametrize(("year", "rows"), [(2020, 8_808), (2021, 8_784)])
def test_svk_full_files(year: int, rows: int) -> None:
    parsed = read_market_file(PRICES / f"svk_SE_AFRR_{year}.csv")
    report = parsed.report
    assert report.rows_read == rows + 1
    assert report.skipped == {"summary row": 1}
    assert report.repaired == {"dst_repeated_hour_label": 1}
    assert not report.rejected
    frame = parsed.frame
    for series in ("price_up", "volume_up", "price_down", "volume_down"):
        one = frame[frame["series"] == series]
        assert len(one) == rows
        assert (one["start"].diff().dropna() == pd.Timedelta(hours=1)).all()


def test_svk_overlapping_files_agree_on_the_shared_day() -> None:
    a = read_market_file(PRICES / "svk_SE_AFRR_2020.csv").frame
    b = read_market_file(PRICES / "svk_SE_AFRR_2021.csv").frame
    shared = sorted(set(a["start"]) & set(b["start"]))
    assert len(shared) == 24
    key = ["series", "start"]
    left = a[a["start"].isin(shared)].set_index(key)["value"].sort_index()
    right = b[b["start"].isin(shared)].set_index(key)["value"].sort_index()
    pd.testing.assert_series_equal(left, right)
