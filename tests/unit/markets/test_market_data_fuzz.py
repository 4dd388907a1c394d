"""Fuzzing the market data parsers: any input either parses into a valid frame or raises
:class:`MarketDataError`, never another exception."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openvpp.markets.data import (
    COLUMNS,
    KEY,
    MarketDataError,
    ParsedMarketData,
    detect_format,
    parse_energinet,
    parse_entsoe_xml,
    parse_epftoolbox,
    parse_regelleistung_fcr,
    parse_svk_afrr,
)
from openvpp.markets.data.long import parse_long

DATA = Path(__file__).resolve().parents[2] / "data" / "markets"

PARSERS: dict[str, Callable[[bytes], ParsedMarketData]] = {
    "epftoolbox": lambda data: parse_epftoolbox(data, market="EU-SDAC"),
    "energinet": parse_energinet,
    "regelleistung_fcr": parse_regelleistung_fcr,
    "svk_afrr": parse_svk_afrr,
    "entsoe_xml": parse_entsoe_xml,
    "openvpp": parse_long,
}
SAMPLES = {
    "epftoolbox": "epftoolbox_NP_excerpt.csv",
    "energinet": "energinet_DK1_excerpt.csv",
    "regelleistung_fcr": "regelleistung_FCR_2021_excerpt.csv",
    "svk_afrr": "svk_SE_AFRR_2020_excerpt.csv",
    "entsoe_xml": "entsoe_A44_A03_PT15M.xml",
    "openvpp": "openvpp_long_sample.csv",
}
SAMPLE_BYTES = {name: (DATA / file).read_bytes() for name, file in SAMPLES.items()}
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def check(name: str, data: bytes) -> None:
    """Parse ``data`` with parser ``name``; only MarketDataError may escape, and a result must
    satisfy the frame invariants."""
    try:
        parsed = PARSERS[name](data)
    except MarketDataError:
        return
    frame = parsed.frame
    assert tuple(frame.columns) == COLUMNS
    assert str(frame["start"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["known_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["period_min"].dtype == "int64"
    assert frame["value"].dtype == "float64"
    assert (frame["period_min"] > 0).all()
    assert np.isfinite(frame["value"]).all()
    assert (frame["value"] == frame["value"].round(6)).all()
    assert frame["known_at"].notna().all()
    assert frame["start"].notna().all()
    for column in ("market", "area", "product", "series", "unit"):
        assert pd.api.types.is_string_dtype(frame[column])
        assert (frame[column].str.len() > 0).all()
    assert not frame.duplicated(list(KEY)).any()
    assert parsed.report.values_emitted == len(frame)


names = st.sampled_from(sorted(PARSERS))


@FUZZ
@given(name=names, data=st.binary(max_size=2000))
def test_random_bytes(name: str, data: bytes) -> None:
    check(name, data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    """A valid sample with a few random edits (cut, insert, replace, truncate)."""
    name = draw(names)
    data = bytearray(SAMPLE_BYTES[name])
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["cut", "insert", "replace", "truncate"]))
        if kind == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif kind == "insert":
            data[at:at] = draw(
                st.one_of(
                    st.binary(max_size=20),
                    st.sampled_from(
                        [b";", b",", b"\n", b"-", b"1e999", b"nan", b"\r", b'"', b"<", b"02:01"]
                    ),
                )
            )
        elif kind == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        else:
            data = data[:at]
    return name, bytes(data)


@FUZZ
@given(case=mutated())
def test_mutated_samples(case: tuple[str, bytes]) -> None:
    check(*case)


CELLS = st.one_of(
    st.sampled_from(
        [
            "", "-", "0", "1,5", "1.5", "-3,25", "1e308", "-1e308", "1e400", "NaN", "inf", "1_0",
            "2020-03-29 02:00", "2020-10-25 02:00", "2020-10-25 02:01", "2021-12-31 11:00",
            "2262-04-12 00:00", "1677-09-21 00:00", "0001-01-01 00:00", "9999-12-31 23:59",
            "29/03/2020", "31/10/2021", "32/13/2021", "NEGPOS_00_04", "NEGPOS_20_24",
            "NEGPOS_04_00", "NEGPOS_00_99", "1", "2", "DK1", "dk 1", "Summa", "SE3",
            "2020-01-01 00:00:00", "\ufeff",
        ]
    ),
    st.text(max_size=12),
)  # fmt: skip


@FUZZ
@given(name=st.sampled_from(sorted(set(PARSERS) - {"entsoe_xml"})), data=st.data())
def test_random_cells_under_a_valid_header(name: str, data: st.DataObject) -> None:
    text = SAMPLE_BYTES[name].decode("utf-8-sig")
    header = text.splitlines()[0]
    sep = ";" if name in ("energinet", "svk_afrr") else ","
    width = len(header.split(sep))
    rows = data.draw(
        st.lists(st.lists(CELLS, min_size=0, max_size=width + 2), min_size=0, max_size=12)
    )
    body = "\n".join(sep.join(cell.replace("\n", " ") for cell in row) for row in rows)
    check(name, (header + "\n" + body).encode("utf-8", errors="surrogatepass"))


@st.composite
def xml_documents(draw: st.DrawFn) -> bytes:
    """A44 documents with random structure and values."""
    positions = st.one_of(st.integers(-2, 30).map(str), st.text(max_size=4))
    amounts = st.one_of(st.floats(allow_nan=True).map(str), st.text(max_size=6))
    series = []
    for _ in range(draw(st.integers(0, 3))):
        periods = []
        for _ in range(draw(st.integers(0, 2))):
            points = "".join(
                f"<Point><position>{draw(positions)}</position>"
                f"<price.amount>{draw(amounts)}</price.amount></Point>"
                for _ in range(draw(st.integers(0, 8)))
            )
            start = draw(st.sampled_from(["2024-03-30T23:00Z", "2024-03-31T00:00Z", "x", ""]))
            end = draw(
                st.sampled_from(["2024-03-31T22:00Z", "2024-03-31T00:15Z", "1900-01-01T00:00Z"])
            )
            resolution = draw(st.sampled_from(["PT15M", "PT30M", "PT60M", "P1D", ""]))
            periods.append(
                f"<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>"
                f"<resolution>{resolution}</resolution>{points}</Period>"
            )
        eic = draw(st.sampled_from(["10YDK-1--------W", "10YNL----------L", "bad code", "X"]))
        curve = draw(st.sampled_from(["A01", "A03", "A02"]))
        series.append(
            f"<TimeSeries><in_Domain.mRID>{eic}</in_Domain.mRID>"
            "<currency_Unit.name>EUR</currency_Unit.name>"
            f"<price_Measure_Unit.name>MWH</price_Measure_Unit.name><curveType>{curve}</curveType>"
            + "".join(periods)
            + "</TimeSeries>"
        )
    created = draw(st.sampled_from(["2024-03-30T10:00:00Z", "2024-13-30T10:00:00Z", "now"]))
    ns = draw(st.sampled_from(["7:0", "7:3", "9:9"]))
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Publication_MarketDocument xmlns="urn:iec62325'
        f'.351:tc57wg16:451-3:publicationdocument:{ns}"><type>A44</type>'
        f"<createdDateTime>{created}</createdDateTime>{''.join(series)}"
        "</Publication_MarketDocument>"
    ).encode()


@FUZZ
@given(data=xml_documents())
def test_random_xml_documents(data: bytes) -> None:
    check("entsoe_xml", data)


@FUZZ
@given(data=st.binary(max_size=300), filename=st.one_of(st.none(), st.text(max_size=10)))
def test_detect_format_only_raises_market_data_error(data: bytes, filename: str | None) -> None:
    with contextlib.suppress(MarketDataError):
        assert detect_format(data, filename) in PARSERS
