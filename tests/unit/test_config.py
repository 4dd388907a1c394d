"""Settings: URL normalisation, token lifetime cap, master secret generated once."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from openvpp.config import Settings


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        ("mysql://root@h/db", "mysql+pymysql://root@h/db"),
        ("mariadb://root@h/db", "mysql+pymysql://root@h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_get_their_driver(given: str, expected: str) -> None:
    assert settings(database_url=given).effective_database_url == expected


def test_default_database_is_sqlite_under_var(tmp_path: Path) -> None:
    assert settings(var_dir=tmp_path).effective_database_url == f"sqlite:///{tmp_path}/openvpp.db"


def test_access_tokens_live_at_most_fifteen_minutes() -> None:
    with pytest.raises(ValidationError, match="access_token_ttl_s"):
        settings(access_token_ttl_s=901)


def test_master_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = settings(var_dir=tmp_path).master_key
    second = settings(var_dir=tmp_path).master_key
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_short_configured_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        _ = settings(secret_key="short").master_key


def test_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENVPP_MAX_PAGE_SIZE", "77")
    assert settings().max_page_size == 77


def test_the_final_settlement_lies_within_the_lookback() -> None:
    assert settings().settlement_revision_h == 24  # within the default 3 days
    assert settings(settlement_lookback_days=1, settlement_revision_h=0).settlement_revision_h == 0
    with pytest.raises(ValidationError, match="settlement_revision_h"):
        settings(settlement_lookback_days=1)  # 24 h after a day's end it is not looked at
    with pytest.raises(ValidationError, match="settlement_revision_h"):
        settings(settlement_lookback_days=3, settlement_revision_h=49)
