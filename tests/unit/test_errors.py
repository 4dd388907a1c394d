"""Domain errors cross process boundaries (the order store process sends them back) with every
attribute, whatever their constructors require."""

from __future__ import annotations

import pickle

import pytest
from sqlalchemy.exc import OperationalError

from openvpp.api.errors import TRANSIENT_CONFLICTS, database_code
from openvpp.core.errors import Conflict, DomainError, RateLimited


def _round_trip(error: DomainError) -> DomainError:
    back: DomainError = pickle.loads(pickle.dumps(error))  # noqa: S301 (bytes made here)
    return back


def _every_error_class() -> list[type[DomainError]]:
    found: list[type[DomainError]] = []
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def test_a_pickled_error_keeps_its_class_message_field_and_details() -> None:
    error = Conflict("taken", field="client_order_id", details=[{"id": "x"}])
    back = _round_trip(error)
    assert type(back) is Conflict
    assert (back.message, back.field, back.details, str(back)) == (
        "taken",
        "client_order_id",
        [{"id": "x"}],
        "taken",
    )


def test_an_error_whose_constructor_needs_more_arguments_pickles_too() -> None:
    back = _round_trip(RateLimited("slow down", retry_after=7, field="login"))
    assert isinstance(back, RateLimited)
    assert (back.retry_after, back.field, back.message) == (7, "login", "slow down")


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__name__)
def test_every_domain_error_survives_pickling(cls: type[DomainError]) -> None:
    error = cls.__new__(cls)
    Exception.__init__(error, "message")
    error.message, error.field, error.details = "message", "f", None
    back = _round_trip(error)
    assert type(back) is cls and back.__dict__ == error.__dict__ and back.args == ("message",)


class _Driver(Exception):
    def __init__(self, *args: object, sqlstate: str | None = None) -> None:
        super().__init__(*args)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("orig", "code"),
    [
        (_Driver("deadlock detected", sqlstate="40P01"), "40P01"),
        (_Driver(1213, "Deadlock found when trying to get lock"), "1213"),
        (_Driver("no code"), None),
    ],
)
def test_the_database_code_behind_a_driver_error(orig: Exception, code: str | None) -> None:
    exc = OperationalError("SELECT 1", {}, orig)
    assert database_code(exc) == code
    assert (code in TRANSIENT_CONFLICTS) is (code is not None)
