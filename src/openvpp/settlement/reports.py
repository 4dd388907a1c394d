"""Settlement reports: revenue, costs and P&L of a period as CSV, XLSX, HTML or PDF, with
charts (matplotlib for HTML and PDF, a native chart in XLSX; WeasyPrint renders the PDF from
the HTML).

The plotting and document libraries are imported when a report is rendered, not with the
module: they cost about a second at import and most processes never render a report.
"""

from __future__ import annotations

import base64
import csv
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

import pandas as pd

__all__ = ["FORMATS", "Format", "ReportData", "render"]

Format = Literal["csv", "xlsx", "html", "pdf"]
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
}
_AMOUNTS = ("revenue", "costs", "pnl")


@dataclass(frozen=True)
class ReportData:
    """What a report shows. Tables carry amounts in minor units (columns ``revenue``,
    ``costs``, ``pnl``) and a ``currency`` column; ``minor_units`` maps a currency to its
    minor unit."""

    title: str
    first_day: date
    last_day: date
    daily: pd.DataFrame  # day, vpp, market, currency, revenue, costs, pnl
    markets: pd.DataFrame  # market, currency, ...
    resource_types: pd.DataFrame  # resource_type, currency, ...
    performance: list[dict[str, Any]]  # amounts in currency units already
    minor_units: Mapping[str, Decimal]
    notes: list[str] = field(default_factory=list)


def _money(table: pd.DataFrame, units: Mapping[str, Decimal]) -> pd.DataFrame:
    """Amount columns in currency units (exact ``Decimal``)."""
    out = table.copy()
    for column in _AMOUNTS:
        if column in out.columns:
            out[column] = pd.Series(
                [
                    Decimal(int(v)) * units.get(str(c), Decimal("0.01"))
                    for v, c in zip(out[column], out["currency"], strict=True)
                ],
                index=out.index,
                dtype=object,
            )
    return out


def _totals(data: ReportData) -> pd.DataFrame:
    if data.daily.empty:
        return pd.DataFrame(columns=["currency", *_AMOUNTS])
    return data.daily.groupby("currency", as_index=False)[list(_AMOUNTS)].sum()


def render(data: ReportData, fmt: Format) -> tuple[bytes, str, str]:
    """The report as bytes, its media type and a file name."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; one of {sorted(FORMATS)}")
    media, ext = FORMATS[fmt]
    name = f"settlement_{data.first_day.isoformat()}_{data.last_day.isoformat()}.{ext}"
    if fmt == "csv":
        return _csv(data), media, name
    if fmt == "xlsx":
        return _xlsx(data), media, name
    page = _html(data)
    if fmt == "html":
        return page.encode(), media, name
    from weasyprint import HTML

    pdf: bytes = HTML(string=page).write_pdf()
    return pdf, media, name


def _csv(data: ReportData) -> bytes:
    """The daily table (day, VPP, market), amounts in currency units."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    table = _money(data.daily, data.minor_units)
    writer.writerow(list(table.columns))
    for row in table.itertuples(index=False):
        writer.writerow([str(v) for v in row])
    return buffer.getvalue().encode()


def _xlsx(data: ReportData) -> bytes:
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    book = Workbook()
    sheets: list[tuple[str, pd.DataFrame]] = [
        ("Summary", _totals(data)),
        ("Daily", data.daily),
        ("Markets", data.markets),
        ("Resource types", data.resource_types),
        ("Performance", pd.DataFrame(data.performance)),
    ]
    for default in list(book.worksheets):
        book.remove(default)
    made = {}
    for title, table in sheets:
        sheet = book.create_sheet(title)
        made[title] = sheet
        shown = table if title == "Performance" else _money(table, data.minor_units)
        sheet.append([str(c) for c in shown.columns])
        for row in shown.itertuples(index=False):
            sheet.append([_cell(v) for v in row])
    daily = made["Daily"]
    if data.daily.shape[0]:
        chart = BarChart()
        chart.title = "P&L per day"
        column = list(data.daily.columns).index("pnl") + 1
        rows = data.daily.shape[0] + 1
        chart.add_data(
            Reference(daily, min_col=column, min_row=1, max_row=rows), titles_from_data=True
        )
        chart.set_categories(Reference(daily, min_col=1, min_row=2, max_row=rows))
        daily.add_chart(chart, "J2")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    """A value as a cell: numbers (``Decimal`` kept exact) and text; days as ISO text."""
    if isinstance(value, date):
        return value.isoformat()
    return value


def _chart(daily: pd.DataFrame, units: Mapping[str, Decimal]) -> str:
    """Daily revenue, costs and P&L as a PNG (base64) per currency, stacked vertically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    currencies = sorted(set(daily["currency"])) if not daily.empty else []
    fig, axes = plt.subplots(max(len(currencies), 1), 1, figsize=(8, 3 * max(len(currencies), 1)))
    axes_list = list(axes) if len(currencies) > 1 else [axes]
    for ax, currency in zip(axes_list, currencies, strict=False):
        part = (
            daily[daily["currency"] == currency]
            .groupby("day", as_index=False)[list(_AMOUNTS)]
            .sum()
        )
        unit = float(units.get(currency, Decimal("0.01")))
        x = range(len(part))
        ax.bar(x, part["revenue"] * unit, label="revenue", color="#2a9d8f")
        ax.bar(x, part["costs"] * unit, label="costs", color="#e76f51")
        ax.plot(x, part["pnl"] * unit, color="#264653", marker="o", label="P&L")
        ax.set_xticks(list(x), [str(d) for d in part["day"]], rotation=45, ha="right", fontsize=7)
        ax.set_ylabel(currency)
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _image(png_base64: str) -> str:
    return f'<img alt="P&amp;L per day" src="data:image/png;base64,{png_base64}">'


def _table(table: pd.DataFrame, units: Mapping[str, Decimal] | None) -> str:
    """An HTML table; amounts converted from minor units when ``units`` is given."""
    if table.empty:
        return "<p>None.</p>"
    shown = table if units is None else _money(table, units)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(data: ReportData) -> str:
    sections: Sequence[tuple[str, str]] = [
        ("Totals", _table(_totals(data), data.minor_units)),
        ("P&L per day", _image(_chart(data.daily, data.minor_units))),
        ("Per day, VPP and market", _table(data.daily, data.minor_units)),
        ("Per market", _table(data.markets, data.minor_units)),
        ("Per resource type", _table(data.resource_types, data.minor_units)),
        ("Delivery performance", _table(pd.DataFrame(data.performance), None)),
    ]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in data.notes)
    body = "".join(f"<h2>{html.escape(t)}</h2>{content}" for t, content in sections)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(data.title)}</title>"
        "<style>body{font-family:sans-serif;font-size:10pt}"
        "table{border-collapse:collapse;margin-bottom:1em}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        "th{background:#eee}img{max-width:100%}</style></head><body>"
        f"<h1>{html.escape(data.title)}</h1>"
        f"<p>{data.first_day.isoformat()} to {data.last_day.isoformat()}</p>"
        f"{body}<ul>{notes}</ul></body></html>"
    )
