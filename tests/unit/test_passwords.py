"""argon2id hashing, rehash on parameter change, and similar cost for unknown users."""

from __future__ import annotations

import statistics
import time

import pytest

from openvpp.core.errors import ValidationFailed
from openvpp.identity.passwords import Passwords, check_password_policy


def test_hash_is_argon2id_and_verifies() -> None:
    pw = Passwords(time_cost=1, memory_kib=8192, parallelism=1)
    hashed = pw.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert pw.verify(hashed, "correct horse battery")
    assert not pw.verify(hashed, "wrong horse battery")
    assert not pw.verify("not-a-hash", "x")


def test_needs_rehash_when_parameters_change() -> None:
    old = Passwords(time_cost=1, memory_kib=8192, parallelism=1)
    new = Passwords(time_cost=2, memory_kib=16384, parallelism=1)
    hashed = old.hash("correct horse battery")
    assert not old.needs_rehash(hashed)
    assert new.needs_rehash(hashed)
    assert new.verify(hashed, "correct horse battery")  # old hashes still verify


def test_unknown_user_costs_about_the_same_as_a_wrong_password() -> None:
    pw = Passwords(time_cost=2, memory_kib=16384, parallelism=1)
    hashed = pw.hash("correct horse battery")

    def median(fn: object) -> float:
        samples = []
        for _ in range(9):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    real = median(lambda: pw.verify(hashed, "wrong password!"))
    dummy = median(lambda: pw.verify_dummy("wrong password!"))
    assert 0.5 < dummy / real < 2.0


@pytest.mark.parametrize("bad", ["short", "x" * 257])
def test_policy_refuses_bad_lengths(bad: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        check_password_policy(bad)
    assert err.value.field == "password"
