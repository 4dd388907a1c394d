"""Aggregation of resource flexibility into VPP envelopes (pure, vectorized)."""
