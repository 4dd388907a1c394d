"""The audit hash chain detects every edit, insertion and deletion."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.audit.chain import (
    GENESIS_HASH,
    AuditContext,
    AuditEvent,
    AuditRecord,
    chain,
    verify,
)

KEY = b"k" * 32
T0 = datetime(2026, 3, 29, 0, 59, 59, 999_999, tzinfo=UTC)


def build(n: int) -> list[AuditRecord]:
    records: list[AuditRecord] = []
    seq, prev = 0, GENESIS_HASH
    for i in range(n):
        ctx = AuditContext(
            actor_type="user",
            actor_id=f"u{i % 3}",
            organization_id="org",
            request_id=f"r{i}",
            ip="127.0.0.1",
        )
        event = AuditEvent(f"thing.{i % 4}", "thing", str(i), before={"v": i}, after={"v": i + 1})
        rec = chain(KEY, seq, prev, T0 + timedelta(microseconds=i), ctx, event)
        records.append(rec)
        seq, prev = rec.seq, rec.hash
    return records


def head_of(records: list[AuditRecord]) -> tuple[int, str] | None:
    return (records[-1].seq, records[-1].hash) if records else None


def test_intact_chain_verifies() -> None:
    records = build(50)
    result = verify(KEY, records, head_of(records))
    assert result.ok and result.checked == 50


def test_empty_chain_verifies() -> None:
    assert verify(KEY, [], None).ok


def test_wrong_key_fails_on_first_row() -> None:
    records = build(3)
    result = verify(b"x" * 32, records, head_of(records))
    assert not result.ok and result.first_bad_seq == 1


@pytest.mark.parametrize("field", ["action", "actor_id", "before", "after", "outcome", "ip"])
def test_edited_row_is_reported(field: str) -> None:
    records = build(10)
    records[4] = replace(records[4], **{field: "tampered"})
    result = verify(KEY, records, head_of(records))
    assert not result.ok and result.first_bad_seq == 5 and "edited" in (result.problem or "")


def test_edited_timestamp_is_reported() -> None:
    records = build(10)
    records[6] = replace(records[6], occurred_at=records[6].occurred_at + timedelta(seconds=1))
    assert verify(KEY, records, head_of(records)).first_bad_seq == 7


def test_deleted_middle_row_is_reported() -> None:
    records = build(10)
    head = head_of(records)
    del records[3]
    result = verify(KEY, records, head)
    assert not result.ok and result.first_bad_seq == 4


def test_deleted_tail_rows_are_reported_through_the_head() -> None:
    records = build(10)
    head = head_of(records)
    result = verify(KEY, records[:7], head)
    assert not result.ok and result.first_bad_seq == 8 and "deleted" in (result.problem or "")


def test_inserted_row_is_reported() -> None:
    records = build(10)
    forged = replace(records[5], action="forged")
    records.insert(5, forged)
    result = verify(KEY, records, head_of(records))
    assert not result.ok and result.first_bad_seq == 6


def test_row_appended_behind_the_head_is_reported() -> None:
    records = build(10)
    head = head_of(records[:9])
    result = verify(KEY, records, head)
    assert not result.ok and result.first_bad_seq == 10


def test_missing_head_with_rows_is_reported() -> None:
    assert not verify(KEY, build(2), None).ok


@given(
    n=st.integers(min_value=1, max_value=30),
    data=st.data(),
)
def test_any_single_edit_is_detected_at_its_row(n: int, data: st.DataObject) -> None:
    records = build(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    new_action = data.draw(st.text(min_size=1, max_size=10))
    if new_action == records[i].action:
        return
    records[i] = replace(records[i], action=new_action)
    result = verify(KEY, records, head_of(records))
    assert not result.ok and result.first_bad_seq == i + 1
