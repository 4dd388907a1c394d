"""Market data parsers on the shipped excerpts (tests/data/markets), with hand-checked values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from openvpp.markets.data import (
    COLUMNS,
    FORMATS,
    KEY,
    MarketDataError,
    ParsedMarketData,
    detect_format,
    parse_energinet,
    parse_entsoe_xml,
    parse_epftoolbox,
    parse_market_data,
    parse_regelleistung_fcr,
    parse_svk_afrr,
    read_market_file,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "markets"


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def one(parsed: ParsedMarketData, **where: object) -> pd.Series:
    """The single row matching ``where`` (column=value)."""
    frame = parsed.frame
    mask = pd.Series(True, index=frame.index)
    for column, value in where.items():
        mask &= frame[column] == value
    rows = frame[mask]
    assert len(rows) == 1, f"{len(rows)} rows match {where}"
    return rows.iloc[0]


def check_invariants(parsed: ParsedMarketData) -> None:
    frame = parsed.frame
    assert tuple(frame.columns) == COLUMNS
    assert str(frame["start"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["known_at"].dtype) == "datetime64[ns, UTC]"
    assert frame["period_min"].dtype == "int64"
    assert frame["value"].dtype == "float64"
    assert not frame.duplicated(list(KEY)).any()
    assert frame.equals(frame.sort_values(list(KEY)).reset_index(drop=True))
    assert parsed.report.values_emitted == len(frame)


# ------------------------------------------------------------------------------ epftoolbox


def test_epftoolbox_np_columns_values_and_known_at() -> None:
    parsed = parse_epftoolbox(raw("epftoolbox_NP_excerpt.csv"), market="EU-SDAC", area="NP")
    check_invariants(parsed)
    frame = parsed.frame
    assert parsed.report.rows_read == 72
    assert set(frame["series"]) == {"price", "grid_load_forecast", "wind_power_forecast"}
    # DST-normalised: 24 distinct UTC hours on the spring-forward day 2018-03-25
    day = frame[(frame["series"] == "price") & (frame["start"].dt.date.astype(str) == "2018-03-25")]
    assert len(day) == 24
    row = one(parsed, series="price", start=ts("2018-03-25 12:00"))
    assert row["value"] == 40.28
    assert row["unit"] == "EUR/MWh"
    assert row["period_min"] == 60
    assert row["known_at"] == ts("2018-03-24 12:00")
    load = one(parsed, series="grid_load_forecast", start=ts("2018-03-25 11:00"))
    assert load["value"] == 48951.0
    assert load["unit"] == "MW"
    assert load["known_at"] == ts("2018-03-24 12:00")


def test_epftoolbox_other_headers_and_options() -> None:
    pjm = parse_epftoolbox(
        raw("epftoolbox_PJM_excerpt.csv"),
        market="US-ISO-DA",
        area="PJM",
        unit="USD/MWh",
        exog_series=["load_forecast", "zonal_load_forecast"],
        publication_time="13:30",
        publication_time_zone="America/New_York",
    )
    check_invariants(pjm)
    row = one(pjm, series="price", start=ts("2013-01-01 05:00"))
    assert row["value"] == 21.962992
    assert row["unit"] == "USD/MWh"
    assert row["known_at"] == ts("2012-12-31 18:30")  # 13:30 EST
    assert set(pjm.frame["series"]) == {"price", "load_forecast", "zonal_load_forecast"}

    be = parse_epftoolbox(
        raw("epftoolbox_BE_excerpt.csv"),
        market="EU-SDAC",
        area="BE",
        exog_series={"Generation forecast": "fr_generation_forecast"},
    )
    assert set(be.frame["series"]) == {"price", "fr_generation_forecast", "system_load_forecast"}
    assert one(be, series="price", start=ts("2011-01-10 18:00"))["value"] == 69.93


def test_epftoolbox_local_time_zone_rejects_the_skipped_hour() -> None:
    parsed = parse_epftoolbox(
        raw("epftoolbox_NP_excerpt.csv"), market="EU-SDAC", time_zone="Europe/Oslo"
    )
    assert parsed.report.rejected == {"nonexistent_local_time": 1}
    assert parsed.report.examples[0].line == 28  # 2018-03-25 02:00
    prices = parsed.frame[parsed.frame["series"] == "price"]
    assert len(prices) == 71
    assert one(parsed, series="price", start=ts("2018-03-25 10:00"))["value"] == 40.28
    assert one(parsed, series="price", start=ts("2018-03-25 10:00"))["known_at"] == ts(
        "2018-03-24 11:00"
    )


def test_epftoolbox_parquet_equals_csv(tmp_path: Path) -> None:
    csv = raw("epftoolbox_NP_excerpt.csv")
    table = pd.read_csv(DATA / "epftoolbox_NP_excerpt.csv", parse_dates=["Date"])
    table.to_parquet(tmp_path / "NP.parquet")
    data = (tmp_path / "NP.parquet").read_bytes()
    assert detect_format(data) == "epftoolbox"
    from_parquet = read_market_file(tmp_path / "NP.parquet", market="EU-SDAC")
    from_csv = parse_epftoolbox(csv, market="EU-SDAC", area="NP")
    pd.testing.assert_frame_equal(from_parquet.frame, from_csv.frame)


def test_epftoolbox_bad_cells_are_rejected_with_line_numbers() -> None:
    text = "Date,Price,Load\n2020-01-01 00:00:00,10.5,100\nnot a date,11,101\n"
    text += "2020-01-01 02:00:00,abc,102\n2020-01-01 03:00:00,1e400,103\n"
    parsed = parse_epftoolbox(text.encode(), market="EU-SDAC")
    report = parsed.report
    assert report.rows_read == 4
    assert report.rejected == {
        "invalid_timestamp in column 'Date'": 1,
        "invalid_number in column 'Price'": 1,
        "value_out_of_range": 1,
    }
    lines = {e.reason: e.line for e in report.examples}
    assert lines["invalid_timestamp in column 'Date'"] == 3
    assert lines["invalid_number in column 'Price'"] == 4
    assert lines["value_out_of_range"] == 5
    assert len(parsed.frame) == 1 + 3  # 1 price, 3 loads


# ------------------------------------------------------------------------------- energinet


def test_energinet_repairs_dropped_zero_and_hour_utc_typo() -> None:
    parsed = parse_energinet(raw("energinet_DK1_excerpt.csv"))
    check_invariants(parsed)
    report = parsed.report
    assert report.rows_read == 150
    assert report.repaired == {"hour_utc_mismatch": 1, "eur_dropped_zero": 28}
    assert not report.rejected
    # "224,399994;30,40001" on 2020-01-01 13:00 DK: the EUR value is 30.04
    row = one(parsed, series="price", start=ts("2020-01-01 12:00"))
    assert row["value"] == pytest.approx(30.04, abs=1e-5)
    assert row["unit"] == "EUR/MWh"
    assert row["known_at"] == ts("2019-12-31 12:00")  # 13:00 Copenhagen on D-1
    dkk = one(parsed, series="price_dkk", start=ts("2020-01-01 12:00"))
    assert dkk["value"] == 224.399994
    assert dkk["unit"] == "DKK/MWh"
    # the HourUTC typo row (HourDK 2021-12-31 11:00, HourUTC 2021-12-30 10:00)
    typo = one(parsed, series="price", start=ts("2021-12-31 10:00"))
    assert typo["value"] == 45.419998
    assert one(parsed, series="price", start=ts("2021-12-30 10:00"))["value"] == 95.550003
    issue = next(e for e in report.examples if e.reason == "hour_utc_mismatch")
    assert issue.line == 138
    assert "2021-12-30 10:00" in issue.detail


def test_energinet_dst_days() -> None:
    frame = parse_energinet(raw("energinet_DK1_excerpt.csv")).frame
    price = frame[frame["series"] == "price"]
    local_day = price["start"].dt.tz_convert("Europe/Copenhagen").dt.date.astype(str)
    assert (local_day == "2020-10-25").sum() == 25
    assert (local_day == "2020-03-29").sum() == 23
    # HourDK 2020-10-25 02:00 twice: HourUTC 00:00 (summer time) and 01:00 (winter time)
    first = price[price["start"] == ts("2020-10-25 00:00")]["value"].item()
    second = price[price["start"] == ts("2020-10-25 01:00")]["value"].item()
    assert first == pytest.approx(0.15)
    assert second == pytest.approx(0.09)  # written "0,90000", repaired


def test_energinet_inconsistent_and_missing_eur_use_the_dkk_price() -> None:
    head = "HourUTC;HourDK;PriceArea;SpotPriceDKK;SpotPriceEUR,,\n"
    rows = [f"2020-01-01 {h:02d}:00;2020-01-01 {h + 1:02d}:00;DK1;74,5;10,00" for h in range(6)]
    rows.append("2020-01-01 06:00;2020-01-01 07:00;DK1;149,0;55,55")
    rows.append("2020-01-01 07:00;2020-01-01 08:00;DK1;149,0;")
    rows.append("2020-01-01 08:00;2020-01-01 09:00;DK1;x;20,0")
    parsed = parse_energinet((head + "\n".join(rows)).encode())
    assert parsed.report.repaired == {"eur_inconsistent": 1, "eur_missing": 1}
    assert parsed.report.rejected == {"invalid SpotPriceDKK": 1}
    for hour in (6, 7):
        row = one(parsed, series="price", start=ts(f"2020-01-01 {hour:02d}:00"))
        assert row["value"] == 20.0  # 149 DKK / 7.45


# --------------------------------------------------------------------------- regelleistung


def test_regelleistung_2021_blocks_dst_and_tenders() -> None:
    parsed = parse_regelleistung_fcr(raw("regelleistung_FCR_2021_excerpt.csv"))
    check_invariants(parsed)
    report = parsed.report
    assert report.rows_read == 42
    assert report.skipped["tender_number_not_1"] == 6
    assert report.skipped["missing value ('-')"] == 48  # SI and DK columns of 2 days
    assert not report.rejected
    frame = parsed.frame
    assert set(frame["market"]) == {"DE-FCR"}
    assert set(frame["product"]) == {"FCR"}
    assert set(frame["area"]) == {"CROSSBORDER", "AT", "BE", "CH", "DE", "DK", "FR", "NL", "SI"}
    row = one(parsed, area="DE", series="capacity_price", start=ts("2020-12-31 23:00"))
    assert row["value"] == 22.99
    assert row["unit"] == "EUR/MW"
    assert row["period_min"] == 240
    assert row["known_at"] == ts("2020-12-31 08:00")  # D-1 09:00 Berlin
    demand = one(parsed, area="DE", series="demand", start=ts("2020-12-31 23:00"))
    assert (demand["value"], demand["unit"]) == (562.0, "MW")
    spring = one(parsed, area="DE", series="capacity_price", start=ts("2021-03-27 23:00"))
    assert (spring["value"], spring["period_min"]) == (36.39, 180)
    assert (
        one(parsed, area="DE", series="capacity_price", start=ts("2021-03-28 02:00"))["period_min"]
        == 240
    )
    autumn = one(parsed, area="DE", series="capacity_price", start=ts("2021-10-30 22:00"))
    assert (autumn["value"], autumn["period_min"]) == (160.0, 300)
    de = frame[(frame["area"] == "DE") & (frame["series"] == "capacity_price")]
    assert len(de) == 36  # 6 days x 6 blocks, tender 2 skipped


def test_regelleistung_2020_daily_product_and_area_filter() -> None:
    parsed = parse_regelleistung_fcr(
        raw("regelleistung_FCR_2020_excerpt.csv"), areas=["DE", "CROSSBORDER"]
    )
    assert set(parsed.frame["area"]) == {"DE", "CROSSBORDER"}
    row = one(parsed, area="DE", series="capacity_price", start=ts("2020-03-28 23:00"))
    assert (row["value"], row["period_min"]) == (140.0, 1380)
    assert (
        one(parsed, area="DE", series="capacity_price", start=ts("2020-03-27 23:00"))["period_min"]
        == 1440
    )


# ---------------------------------------------------------------------------------- SvK


def test_svk_summa_dropped_and_dst_days() -> None:
    parsed = parse_svk_afrr(raw("svk_SE_AFRR_2020_excerpt.csv"))
    check_invariants(parsed)
    report = parsed.report
    assert report.rows_read == 97
    assert report.skipped == {"summary row": 1}
    assert report.repaired == {"dst_repeated_hour_label": 1}
    frame = parsed.frame
    up = frame[frame["series"] == "price_up"]
    local_day = up["start"].dt.tz_convert("Europe/Stockholm").dt.date.astype(str)
    assert (local_day == "2020-03-29").sum() == 23
    assert (local_day == "2020-10-25").sum() == 25
    assert up["start"].diff().dropna().eq(pd.Timedelta(hours=1)).sum() == 94  # 2 days in 2 runs
    row = one(parsed, series="price_up", start=ts("2020-03-28 23:00"))
    assert (row["value"], row["unit"], row["area"]) == (20.427, "EUR/MW", "SE")
    assert row["known_at"] == ts("2021-12-14 15:33")  # Publiceringstidpunkt 16:33 local
    assert one(parsed, series="volume_up", start=ts("2020-03-28 23:00"))["value"] == 140
    assert one(parsed, series="price_down", start=ts("2020-03-28 23:00"))["value"] == 17.41
    # 02:00 (summer time) and 02:01 (= 02:00 winter time) on 2020-10-25
    assert {ts("2020-10-25 00:00"), ts("2020-10-25 01:00")} <= set(up["start"])


def test_svk_day_ahead_known_at_and_area_option() -> None:
    parsed = parse_svk_afrr(raw("svk_SE_AFRR_2020_excerpt.csv"), known_at="day_ahead", area="SE3")
    row = one(parsed, series="price_up", start=ts("2020-03-28 23:00"))
    assert row["known_at"] == ts("2020-03-28 11:00")  # 12:00 CET on D-1
    assert set(parsed.frame["area"]) == {"SE3"}


# --------------------------------------------------------------------------------- ENTSO-E


def test_entsoe_a01_two_series_two_periods() -> None:
    parsed = parse_entsoe_xml(raw("entsoe_A44_A01_PT60M.xml"))
    check_invariants(parsed)
    frame = parsed.frame
    assert parsed.report.rows_read == 70
    assert len(frame) == 70
    assert set(frame["area"]) == {"DK1", "DE-LU"}
    assert set(frame["product"]) == {"H"}
    assert set(frame["known_at"]) == {ts("2023-03-25 11:58:31")}
    row = one(parsed, area="DK1", start=ts("2023-03-26 01:00"))
    assert (row["value"], row["unit"], row["period_min"]) == (83.75, "EUR/MWh", 60)
    assert one(parsed, area="DE-LU", start=ts("2023-03-26 03:00"))["value"] == -5.67
    assert one(parsed, area="DK1", start=ts("2023-03-27 21:00"))["value"] == 88.0
    assert len(frame[frame["area"] == "DE-LU"]) == 23  # the spring-forward day


def test_entsoe_a03_fills_variable_blocks() -> None:
    parsed = parse_entsoe_xml(raw("entsoe_A44_A03_PT15M.xml"), market="EU-SDAC")
    check_invariants(parsed)
    frame = parsed.frame
    qh = frame[frame["area"] == "DE-LU"].set_index("start")["value"]
    assert len(qh) == 96
    assert set(frame.loc[frame["area"] == "DE-LU", "product"]) == {"QH"}
    start = ts("2025-10-01 22:00")

    def at(position: int) -> float:
        return float(qh[start + pd.Timedelta(minutes=15 * (position - 1))])

    assert [at(p) for p in (1, 2, 3, 4, 5, 8, 9, 39, 40, 41, 89, 90, 96)] == [
        95.10, 93.40, 93.40, 93.40, 91.00, 91.00, 88.75, 88.75, 120.00, 131.55, 131.55,
        102.30, 102.30,
    ]  # fmt: skip
    nl = frame[frame["area"] == "NL"]
    assert len(nl) == 24
    assert nl["value"].tolist()[:4] == [70.0, 70.0, 65.5, 65.5]
    assert nl["value"].iloc[-1] == 80.25


def _doc(body: str, doc_type: str = "A44") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:'
        f'publicationdocument:7:3"><type>{doc_type}</type>'
        f"<createdDateTime>2024-01-01T11:00:00Z</createdDateTime>{body}"
        "</Publication_MarketDocument>"
    ).encode()


SERIES = (
    "<TimeSeries><in_Domain.mRID>10YXX-UNKNOWN--1</in_Domain.mRID>"
    "<currency_Unit.name>EUR</currency_Unit.name>"
    "<price_Measure_Unit.name>MWH</price_Measure_Unit.name><curveType>A01</curveType>"
    "<Period><timeInterval><start>2024-01-01T23:00Z</start><end>2024-01-02T03:00Z</end>"
    "</timeInterval><resolution>PT60M</resolution>{points}</Period></TimeSeries>"
)


def _points(*pairs: tuple[str, str]) -> str:
    return "".join(
        f"<Point><position>{p}</position><price.amount>{a}</price.amount></Point>" for p, a in pairs
    )


def test_entsoe_a01_missing_and_bad_points_are_counted() -> None:
    points = _points(("1", "10.5"), ("2", "x"), ("9", "1"), ("4", "12"), ("4", "13"))
    parsed = parse_entsoe_xml(_doc(SERIES.format(points=points)))
    report = parsed.report
    assert report.rows_read == 5
    assert report.rejected == {
        "invalid or out-of-range position": 1,
        "invalid price.amount": 1,
        "duplicate position": 1,
    }
    assert report.skipped == {"missing A01 position": 2}
    assert parsed.frame["area"].tolist() == ["10YXX-UNKNOWN--1"] * 2  # unknown EIC kept
    assert parsed.frame["value"].tolist() == [10.5, 12.0]
    assert report.examples[0].detail.startswith("TimeSeries[1]/Period[1]")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><lolz>&lol;</lolz>',
            "DOCTYPE declarations are refused",
        ),
        (_doc("", doc_type="A65"), "element type: 'A65'"),
        (_doc(SERIES.format(points="").replace("PT60M", "P1D")), "resolution: 'P1D'"),
        (_doc(SERIES.format(points="").replace("MWH", "KWH")), "price_Measure_Unit.name"),
        (_doc("<TimeSeries/>"), "TimeSeries[1]/in_Domain.mRID is missing"),
        (b"<Publication_MarketDocument><type>", "malformed XML"),
        (b"<Other/>", "root element 'Other'"),
        (
            _doc(SERIES.format(points="").replace("2024-01-02T03:00Z", "2024-01-01T23:30Z")),
            "not a positive whole number of PT60M intervals",
        ),
    ],
)
def test_entsoe_errors_name_the_element(data: bytes, message: str) -> None:
    with pytest.raises(MarketDataError, match=None) as info:
        parse_entsoe_xml(data)
    assert message in str(info.value)


# ------------------------------------------------------------------- registry and errors


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("epftoolbox_NP_excerpt.csv", "epftoolbox"),
        ("epftoolbox_PJM_excerpt.csv", "epftoolbox"),
        ("energinet_DK1_excerpt.csv", "energinet"),
        ("regelleistung_FCR_2021_excerpt.csv", "regelleistung_fcr"),
        ("regelleistung_FCR_2020_excerpt.csv", "regelleistung_fcr"),
        ("svk_SE_AFRR_2020_excerpt.csv", "svk_afrr"),
        ("entsoe_A44_A01_PT60M.xml", "entsoe_xml"),
        ("entsoe_A44_A03_PT15M.xml", "entsoe_xml"),
    ],
)
def test_detect_format(name: str, fmt: str) -> None:
    assert detect_format(raw(name), name) == fmt
    assert detect_format(raw(name)) == fmt


def test_detect_format_unknown() -> None:
    with pytest.raises(MarketDataError, match="unknown format, header 'a;b;c'"):
        detect_format(b"a;b;c\n1;2;3\n", "x.csv")
    with pytest.raises(MarketDataError, match="no Publication_MarketDocument"):
        detect_format(b"<GL_MarketDocument/>")


def test_read_market_file_defaults_area_to_the_stem(tmp_path: Path) -> None:
    path = tmp_path / "NP.csv"
    path.write_bytes(raw("epftoolbox_NP_excerpt.csv"))
    parsed = read_market_file(path, market="EU-SDAC")
    assert set(parsed.frame["area"]) == {"NP"}


def test_registry_lists_every_parser_with_its_options() -> None:
    assert set(FORMATS) == {
        "epftoolbox",
        "energinet",
        "regelleistung_fcr",
        "svk_afrr",
        "entsoe_xml",
        "openvpp",
    }
    assert "market" in FORMATS["epftoolbox"].options
    assert "areas" in FORMATS["regelleistung_fcr"].options
    with pytest.raises(MarketDataError, match=r"unknown option\(s\) \['area'\]"):
        parse_market_data(raw("energinet_DK1_excerpt.csv"), "energinet", area="DK2")
    with pytest.raises(MarketDataError, match="unknown format 'csv'"):
        parse_market_data(b"", "csv")
    with pytest.raises(MarketDataError, match="cannot read"):
        read_market_file("/nonexistent/file.csv", fmt="energinet")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: parse_epftoolbox(b"Date,Price\n"), "option market=None"),
        (
            lambda: parse_epftoolbox(b"Date,Price\n", market="X", time_zone="Mars/Base"),
            "option time_zone='Mars/Base': unknown IANA time zone",
        ),
        (
            lambda: parse_energinet(b"HourUTC;HourDK;PriceArea;SpotPriceDKK\n"),
            "line 1: no column 'SpotPriceEUR'",
        ),
        (
            lambda: parse_energinet(b"HourUTC;x\n", publication_time="25:00"),
            "option publication_time='25:00'",
        ),
        (
            lambda: parse_regelleistung_fcr(b"DATE_FROM,TENDER_NUMBER\n"),
            "no column 'PRODUCTNAME'",
        ),
        (lambda: parse_regelleistung_fcr(b"", areas="DE"), "option areas='DE'"),
        (lambda: parse_svk_afrr(b"Period;x\n", known_at="now"), "option known_at='now'"),
        (lambda: parse_svk_afrr(b"\xff\xfe"), "not UTF-8 text, invalid byte 0xff at offset 0"),
        (lambda: parse_epftoolbox(b"Date\n2020-01-01,1\n", market="X"), "at least 2 columns"),
        (
            lambda: parse_epftoolbox(b"Date,P,a b,a-b\n", market="X"),
            "series names ['price', 'a_b', 'a_b'] are not unique",
        ),
    ],
)
def test_errors_name_the_field_and_value(call: object, message: str) -> None:
    with pytest.raises(MarketDataError) as info:
        call()  # type: ignore[operator]
    assert message in str(info.value)


def test_size_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("openvpp.markets.data._common.MAX_BYTES", 100)
    with pytest.raises(MarketDataError, match="more than the limit of 100 bytes"):
        parse_energinet(raw("energinet_DK1_excerpt.csv"))


def test_duplicates_keep_the_first_line_and_are_reported() -> None:
    text = "Date,Price\n2020-01-01 00:00:00,1\n2020-01-01 00:00:00,2\n"
    parsed = parse_epftoolbox(text.encode(), market="EU-SDAC")
    assert parsed.frame["value"].tolist() == [1.0]
    assert parsed.report.rejected == {"duplicate": 1}
    assert parsed.report.examples[0].line == 3


def test_empty_input_gives_an_empty_typed_frame() -> None:
    parsed = parse_svk_afrr(raw("svk_SE_AFRR_2020_excerpt.csv").split(b"\n", 1)[0])
    check_invariants(parsed)
    assert parsed.frame.empty
    assert "0 rows read" in parsed.report.summary()


def _a03(periods: list[tuple[str, str]]) -> bytes:
    body = "".join(
        f"<Period><timeInterval><start>{start}</start><end>{end}</end></timeInterval>"
        "<resolution>PT15M</resolution><Point><position>1</position>"
        "<price.amount>5</price.amount></Point></Period>"
        for start, end in periods
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Publication_MarketDocument '
        'xmlns="urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"><type>A44</type>'
        "<createdDateTime>2020-01-01T00:00Z</createdDateTime><TimeSeries>"
        "<in_Domain.mRID>10YDK-1--------W</in_Domain.mRID>"
        "<currency_Unit.name>EUR</currency_Unit.name>"
        "<price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
        f"<curveType>A03</curveType>{body}</TimeSeries></Publication_MarketDocument>"
    ).encode()


def test_entsoe_a03_expansion_is_bounded() -> None:
    day = parse_entsoe_xml(_a03([("2020-01-01T00:00Z", "2020-01-02T00:00Z")]))
    assert len(day.frame) == 96  # one point forward-filled over the day
    with pytest.raises(MarketDataError, match="more than 31 days"):
        parse_entsoe_xml(_a03([("2020-01-01T00:00Z", "2020-03-01T00:00Z")]))
    month = ("2020-01-01T00:00Z", "2020-01-31T00:00Z")  # 2,880 quarter-hours
    with pytest.raises(MarketDataError, match="more than 400000 intervals"):
        parse_entsoe_xml(_a03([month] * 150))
