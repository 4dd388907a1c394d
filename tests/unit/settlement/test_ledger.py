from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openvpp.core.errors import Conflict, ValidationFailed
from openvpp.settlement.ledger import (
    RECEIVABLE,
    JournalEntry,
    Ledger,
    Posting,
    account_for_line,
    entries_for_lines,
)

DAY = date(2026, 10, 25)
DIMS = {"vpp": "v1", "market": "EU-SDAC"}


def test_lines_post_to_the_receivable_and_their_income_or_expense_account():
    entries = entries_for_lines(
        "run1",
        DAY,
        {"day_ahead": 420_000, "imbalance": -19_000, "fee:EXCHANGE": -48, "deviation_penalty": 0},
        currency="EUR",
        dimensions=DIMS,
    )
    assert [e.description for e in entries] == ["day_ahead", "imbalance", "fee:EXCHANGE"]
    da, rt, fee = entries
    assert [(p.account, p.debit, p.credit) for p in da.postings] == [
        (RECEIVABLE, 420_000, 0),
        ("revenue:day_ahead", 0, 420_000),
    ]
    assert [(p.account, p.debit, p.credit) for p in fee.postings] == [
        (RECEIVABLE, 0, 48),
        ("expense:fees", 48, 0),
    ]
    assert rt.entry_id == "run1:2026-10-25:imbalance:market=EU-SDAC,vpp=v1"
    ledger = Ledger()
    assert ledger.post(entries) == 3
    assert ledger.balances() == {
        (RECEIVABLE,): 400_952,
        ("revenue:day_ahead",): -420_000,
        ("revenue:imbalance",): 19_000,
        ("expense:fees",): 48,
    }


def test_posting_is_idempotent_and_refuses_changed_content_atomically():
    ledger = Ledger()
    first = entries_for_lines("r", DAY, {"day_ahead": 100}, currency="EUR", dimensions=DIMS)
    assert ledger.post(first) == 1
    assert ledger.post(first) == 0
    other = entries_for_lines("r", DAY, {"day_ahead": 101}, currency="EUR", dimensions=DIMS)
    fresh = entries_for_lines("s", DAY, {"imbalance": 5}, currency="EUR", dimensions=DIMS)
    with pytest.raises(Conflict, match="already posted"):
        ledger.post([*fresh, *other])
    assert len(ledger.entries) == 1  # the fresh entry was not posted either


def test_unbalanced_or_malformed_entries_cannot_exist():
    with pytest.raises(ValidationFailed, match="differ by 1"):
        JournalEntry("e", DAY, "x", (Posting(RECEIVABLE, 5), Posting("revenue:day_ahead", -4)))
    with pytest.raises(ValidationFailed, match="at least two postings"):
        JournalEntry("e", DAY, "x", (Posting(RECEIVABLE, 0),))
    with pytest.raises(ValidationFailed, match="unknown account"):
        Posting("cash", 1)
    with pytest.raises(ValidationFailed, match="amount must be an integer"):
        Posting(RECEIVABLE, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed, match="unknown settlement line"):
        account_for_line("bonus")


lines = st.sampled_from(
    [
        "day_ahead",
        "imbalance",
        "contract_for_difference",
        "response_payment",
        "deviation_penalty",
        "under_delivery_penalty",
        "fee:EXCHANGE",
        "fee:GRID",
    ]
)
runs = st.lists(
    st.tuples(
        st.sampled_from(["r1", "r2", "r3"]),
        st.dates(date(2026, 1, 1), date(2026, 12, 31)),
        st.dictionaries(lines, st.integers(-(10**12), 10**12), max_size=8),
        st.sampled_from(["v1", "v2"]),
    ),
    max_size=30,
)


@given(runs)
def test_debits_equal_credits_whatever_is_posted(batches):
    ledger = Ledger()
    expected_receivable = {}
    for run, day, totals, vpp in batches:
        entries = entries_for_lines(run, day, totals, currency="EUR", dimensions={"vpp": vpp})
        try:
            ledger.post(entries)
        except Conflict:
            continue  # same run, day and vpp with other totals: refused whole
        for e in entries:
            expected_receivable[e.entry_id] = e.postings[0].amount
        debits, credits = ledger.trial_balance()
        assert debits == credits
        assert sum(ledger.balances().values()) == 0
        assert sum(ledger.balances(by_period=True).values()) == 0
    receivable = ledger.balances().get((RECEIVABLE,), 0)
    assert receivable == sum(expected_receivable.values())
