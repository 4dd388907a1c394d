"""Market presets shipped as YAML (``markets/presets/*.yaml``) and user-defined market files.

A market file is a mapping with a ``markets`` list; each entry is validated into a
:class:`~openvpp.markets.model.Market`. Errors raise :class:`ValidationFailed` whose ``field``
is the dotted path of the first offending field (e.g. ``markets.0.price_limits``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from openvpp.core.errors import ValidationFailed
from openvpp.markets.model import Market


class MarketFile(BaseModel):
    """The document of a market file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    markets: tuple[Market, ...] = Field(..., min_length=1)


def _path(loc: tuple[int | str, ...]) -> str:
    # drop pydantic's union tags (e.g. 'day_before') that are not keys of the document
    return ".".join(str(p) for p in loc if p not in ("day_before", "before_delivery"))


def parse_markets(document: Any, source: str = "<text>") -> dict[str, Market]:
    """Validate a parsed market document into markets by code."""
    try:
        parsed = MarketFile.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        where = [f"{_path(e['loc']) or '<document>'}: {e['msg']}" for e in errors]
        raise ValidationFailed(
            f"invalid market file {source}: " + "; ".join(where),
            field=_path(errors[0]["loc"]) or None,
            details=[{"field": _path(e["loc"]), "message": e["msg"]} for e in errors],
        ) from None
    out: dict[str, Market] = {}
    for i, market in enumerate(parsed.markets):
        if market.code in out:
            raise ValidationFailed(
                f"invalid market file {source}: duplicate market code {market.code!r}",
                field=f"markets.{i}.code",
            )
        out[market.code] = market
    return out


def load_market_file(path_or_text: str | Path) -> dict[str, Market]:
    """Markets by code from a YAML file (a ``Path``, or a string naming an existing file) or
    from YAML text."""
    if isinstance(path_or_text, Path) or (
        "\n" not in path_or_text and Path(path_or_text).is_file()
    ):
        path = Path(path_or_text)
        text, source = path.read_text(encoding="utf-8"), str(path)
    else:
        text, source = path_or_text, "<text>"
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationFailed(f"market file {source} is not valid YAML: {exc}") from None
    return parse_markets(document, source)


@cache
def _presets() -> tuple[tuple[str, Market], ...]:
    out: dict[str, Market] = {}
    folder = files("openvpp.markets") / "presets"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        document = yaml.safe_load(entry.read_text(encoding="utf-8"))
        for code, market in parse_markets(document, entry.name).items():
            if code in out:
                raise ValidationFailed(f"preset {entry.name}: market {code!r} defined twice")
            out[code] = market
    return tuple(out.items())


_USER_MARKETS: dict[str, Market] = {}
_USER_LOCK = threading.Lock()


def add_market_files(paths: Iterable[Path]) -> None:
    """:func:`add_markets` of each market file (``OPENVPP_MARKET_FILES``)."""
    for path in paths:
        add_markets(load_market_file(path), str(path))


def add_markets(markets: Mapping[str, Market], source: str = "<markets>") -> None:
    """Make user-defined ``markets`` known next to the presets (the runtime adds the files of
    ``OPENVPP_MARKET_FILES`` at start-up). A code that names a shipped preset, or a market
    added before with other rules, is refused; adding the same market again changes nothing."""
    shipped = dict(_presets())
    with _USER_LOCK:
        for code, market in markets.items():
            if code in shipped:
                raise ValidationFailed(
                    f"{source}: market {code!r} is a shipped preset; choose another code",
                    field="code",
                )
            known = _USER_MARKETS.get(code)
            if known is not None and known != market:
                raise ValidationFailed(
                    f"{source}: market {code!r} was added before with other rules", field="code"
                )
        _USER_MARKETS.update(markets)


def load_presets() -> dict[str, Market]:
    """The known markets by code: the shipped presets (parsed once) and the user-defined
    markets added with :func:`add_markets`; a fresh dict on every call."""
    with _USER_LOCK:
        return {**dict(_presets()), **_USER_MARKETS}
