"""Settlement: market rules (pure, exact money), baselines, ledger, contribution, analysis."""
