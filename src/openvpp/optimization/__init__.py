"""HiGHS model builders: schedule optimization of flexibility against prices, the decomposition
for large portfolios, and bid curves in each market's format."""
