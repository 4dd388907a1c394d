"""The OpenVPP long format: CSV and Parquet round trips, rejected rows counted by reason."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openvpp.markets.data import MarketDataError, detect_format, parse_market_data

HEADER = "market,area,product,series,start,period_min,value,unit,known_at\n"
CSV = (
    HEADER
    + "EU-SDAC,DE-LU,QH,price,2026-03-29T01:45:00+01:00,15,55.5,EUR/MWh,2026-03-28T12:45:00+01:00\n"
    + "EU-SDAC,DE-LU,QH,price,2026-03-29T03:00:00+02:00,15,60,EUR/MWh,2026-03-28T12:45:00+01:00\n"
    + "EU-SDAC,DE-LU,QH,price,2026-03-29T03:15:00,15,60,EUR/MWh,2026-03-28T12:45:00+01:00\n"
    + "eu-sdac,DE-LU,QH,price,2026-03-29T03:15:00Z,15,60,EUR/MWh,2026-03-28T12:45:00Z\n"
    + "EU-SDAC,DE-LU,QH,price,2026-03-29T03:30:00Z,0,60,EUR/MWh,2026-03-28T12:45:00Z\n"
    + "EU-SDAC,DE-LU,QH,price,2026-03-29T03:45:00Z,15,abc,EUR/MWh,2026-03-28T12:45:00Z\n"
    + "EU-SDAC,DE-LU,QH,Price,2026-03-29T04:00:00Z,15,1,EUR/MWh,2026-03-28T12:45:00Z\n"
).encode()


def test_csv_rows_are_read_in_utc_and_bad_rows_counted() -> None:
    assert detect_format(CSV) == "openvpp"
    parsed = parse_market_data(CSV, "openvpp")
    f = parsed.frame
    # 01:45 CET and 03:00 CEST are consecutive quarter-hours across the spring-forward gap
    assert f["start"].astype(str).tolist() == [
        "2026-03-29 00:45:00+00:00",
        "2026-03-29 01:00:00+00:00",
    ]
    assert f["known_at"].iloc[0] == pd.Timestamp("2026-03-28 11:45", tz="UTC")
    assert f["value"].tolist() == [55.5, 60.0]
    assert parsed.report.rejected == {
        "invalid_code": 1,
        "invalid_series": 1,
        "time_without_offset_or_unparsable": 1,
        "invalid_period": 1,
        "invalid_value": 1,
    }
    lines = {e.reason: e.line for e in parsed.report.examples}
    assert lines["time_without_offset_or_unparsable"] == 4


def test_wrong_columns_are_refused_naming_them() -> None:
    with pytest.raises(MarketDataError, match="missing \\['known_at'\\]"):
        parse_market_data(HEADER.replace(",known_at", "").encode(), "openvpp")
    with pytest.raises(MarketDataError, match="unexpected \\['extra'\\]"):
        parse_market_data(HEADER.replace("\n", ",extra\n").encode(), "openvpp")


ROWS = st.lists(
    st.tuples(
        st.sampled_from(["EU-SDAC", "US-ISO-DA"]),
        st.sampled_from(["DE-LU", "PJM"]),
        st.sampled_from(["H", "QH"]),
        st.sampled_from(["price", "volume"]),
        st.integers(0, 10_000),
        st.sampled_from([15, 60]),
        st.floats(-1e6, 1e6, allow_nan=False).map(lambda v: round(v, 6)),
        st.integers(-100, 100),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(rows=ROWS)
def test_csv_and_parquet_round_trip(rows: list[tuple[object, ...]]) -> None:
    base = pd.Timestamp("2026-01-01", tz="UTC")
    frame = pd.DataFrame(
        {
            "market": [r[0] for r in rows],
            "area": [r[1] for r in rows],
            "product": [r[2] for r in rows],
            "series": [r[3] for r in rows],
            "start": [base + pd.Timedelta(minutes=15 * int(r[4])) for r in rows],  # type: ignore[call-overload]
            "period_min": [r[5] for r in rows],
            "value": [r[6] for r in rows],
            "unit": "EUR/MWh",
            "known_at": [base + pd.Timedelta(hours=int(r[7])) for r in rows],  # type: ignore[call-overload]
        }
    )
    first = parse_market_data(frame.to_csv(index=False).encode(), "openvpp").frame
    buffer = io.BytesIO()
    first.to_parquet(buffer)
    data = buffer.getvalue()
    assert detect_format(data, "x.parquet") == "openvpp"
    second = parse_market_data(data, "openvpp").frame
    pd.testing.assert_frame_equal(first, second)
    expected = frame.drop_duplicates(["market", "area", "product", "series", "start", "known_at"])
    assert len(first) == len(expected)


def test_times_outside_1900_2199_are_rejected_not_crashing() -> None:
    rows = "".join(
        f"EU-SDAC,DE-LU,QH,price,{start},15,1,EUR/MWh,2026-03-28T12:45:00Z\n"
        for start in ("2500-01-01T00:00Z", "9999-12-31T00:00Z", "0001-01-01T00:00+01:00")
    )
    parsed = parse_market_data((HEADER + rows).encode(), "openvpp")
    assert parsed.frame.empty
    assert parsed.report.rejected == {"time_without_offset_or_unparsable": 3}


def test_a_time_zone_naming_a_directory_is_a_clean_error() -> None:
    sample = b"Date,Price\n2013-01-01 00:00:00,31.05\n"
    with pytest.raises(MarketDataError, match="time zone"):
        parse_market_data(sample, "epftoolbox", market="EU-SDAC", time_zone="Europe")
