"""Append-only, hash-chained audit trail (pure chain logic + service)."""
