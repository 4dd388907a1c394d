"""Double-entry ledger (pure): accounts, balanced journal entries, balances.

A posting's ``amount`` is signed in minor currency units: **positive is a debit, negative a
credit**. A :class:`JournalEntry` refuses to exist unless its postings sum to zero, so any
collection of entries has debits equal to credits, per entry, per period and in total.

Chart of accounts (:data:`CHART`): the market operator's account is an asset (money due to the
party, negative when the party owes); settlement lines that are revenue (energy sold, imbalance,
contracts, demand response; negative when they cost) credit a revenue account, penalties and
fees debit an expense account. Every settlement line posts as one entry of two postings:
``receivable +a`` and ``revenue or expense -a``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from openvpp.core.errors import Conflict, ValidationFailed
from openvpp.settlement import engine

__all__ = [
    "CHART",
    "RECEIVABLE",
    "Account",
    "AccountKind",
    "JournalEntry",
    "Ledger",
    "Posting",
    "account_for_line",
    "entries_for_lines",
]


class AccountKind(StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    REVENUE = "revenue"
    EXPENSE = "expense"


@dataclass(frozen=True, slots=True)
class Account:
    code: str
    kind: AccountKind
    name: str


RECEIVABLE = "asset:market_receivable"

CHART: dict[str, Account] = {
    a.code: a
    for a in (
        Account(RECEIVABLE, AccountKind.ASSET, "Due from (to) the market operator"),
        Account("revenue:day_ahead", AccountKind.REVENUE, "Day-ahead energy"),
        Account("revenue:intraday", AccountKind.REVENUE, "Intraday energy"),
        Account("revenue:imbalance", AccountKind.REVENUE, "Real-time imbalance settlement"),
        Account("revenue:contract_for_difference", AccountKind.REVENUE, "Contracts for difference"),
        Account("revenue:response_payment", AccountKind.REVENUE, "Demand-response payments"),
        Account("expense:deviation_penalty", AccountKind.EXPENSE, "Deviation assessment"),
        Account("expense:under_delivery_penalty", AccountKind.EXPENSE, "Under-delivery penalties"),
        Account("expense:fees", AccountKind.EXPENSE, "Market and grid fees"),
    )
}

_REVENUE_LINES = (
    engine.DAY_AHEAD,
    engine.INTRADAY,
    engine.IMBALANCE,
    engine.CFD,
    engine.RESPONSE,
)
_EXPENSE_LINES = (engine.DEVIATION, engine.UNDER_DELIVERY)


def account_for_line(line: str) -> str:
    """The income or expense account a settlement line posts to."""
    if line in _REVENUE_LINES:
        return f"revenue:{line}"
    if line in _EXPENSE_LINES:
        return f"expense:{line}"
    if line.startswith(engine.FEE_PREFIX):
        return "expense:fees"
    raise ValidationFailed(f"unknown settlement line {line!r}", field="line")


@dataclass(frozen=True, slots=True)
class Posting:
    """``amount`` [minor units] on ``account``: > 0 debit, < 0 credit. ``dimensions`` are the
    analysis keys (vpp, market, resource, ...)."""

    account: str
    amount: int
    dimensions: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.account not in CHART:
            raise ValidationFailed(f"unknown account {self.account!r}", field="account")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise ValidationFailed(
                f"amount must be an integer, got {self.amount!r}", field="amount"
            )

    @property
    def debit(self) -> int:
        return max(self.amount, 0)

    @property
    def credit(self) -> int:
        return max(-self.amount, 0)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A balanced set of postings booked for one ``period`` (the market day it settles)."""

    entry_id: str
    period: date
    description: str
    postings: tuple[Posting, ...]
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not self.entry_id:
            raise ValidationFailed("entry_id must not be empty", field="entry_id")
        if len(self.postings) < 2:
            raise ValidationFailed("an entry needs at least two postings", field="postings")
        imbalance = sum(p.amount for p in self.postings)
        if imbalance:
            raise ValidationFailed(
                f"entry {self.entry_id}: debits and credits differ by {imbalance}",
                field="postings",
            )

    @property
    def debits(self) -> int:
        return sum(p.debit for p in self.postings)

    @property
    def credits(self) -> int:
        return sum(p.credit for p in self.postings)


def entries_for_lines(
    run_id: str,
    period: date,
    totals: Mapping[str, int],
    *,
    currency: str,
    dimensions: Mapping[str, str],
) -> list[JournalEntry]:
    """One entry per non-zero settlement line total: ``receivable +a``, ``income/expense -a``.

    ``entry_id`` is ``<run_id>:<period>:<line>:<dimensions>``, so a rerun produces the same ids
    and the store's unique key keeps it from posting twice.
    """
    dims = tuple(sorted(dimensions.items()))
    key = ",".join(f"{k}={v}" for k, v in dims)
    entries = []
    for line, amount in totals.items():
        amount = int(amount)
        if amount == 0:
            continue
        entries.append(
            JournalEntry(
                entry_id=f"{run_id}:{period.isoformat()}:{line}:{key}",
                period=period,
                description=line,
                postings=(
                    Posting(RECEIVABLE, amount, dims),
                    Posting(account_for_line(line), -amount, dims),
                ),
                currency=currency,
            )
        )
    return entries


@dataclass
class Ledger:
    """Entries in memory, idempotent by ``entry_id``; the store keeps the same in tables."""

    entries: dict[str, JournalEntry] = field(default_factory=dict)

    def post(self, entries: Iterable[JournalEntry]) -> int:
        """Post ``entries``; an id already posted with the same content is skipped, with other
        content refused (``Conflict``) before anything is posted. Returns the number added."""
        batch = list(entries)
        for entry in batch:
            known = self.entries.get(entry.entry_id)
            if known is not None and known != entry:
                raise Conflict(
                    f"entry {entry.entry_id} is already posted with other postings",
                    field="entry_id",
                )
        added = 0
        for entry in batch:
            if entry.entry_id not in self.entries:
                self.entries[entry.entry_id] = entry
                added += 1
        return added

    def balances(
        self, *, by_period: bool = False, currency: str | None = None
    ) -> dict[tuple[str, ...], int]:
        """Balance per account (and period) [minor units], debit positive."""
        out: dict[tuple[str, ...], int] = defaultdict(int)
        for entry in self.entries.values():
            if currency is not None and entry.currency != currency:
                continue
            for p in entry.postings:
                key = (p.account, entry.period.isoformat()) if by_period else (p.account,)
                out[key] += p.amount
        return dict(out)

    def trial_balance(self) -> tuple[int, int]:
        """Total debits and credits; equal whenever every entry is balanced."""
        debits = sum(e.debits for e in self.entries.values())
        credits = sum(e.credits for e in self.entries.values())
        return debits, credits
