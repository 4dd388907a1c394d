"""Demo data: the industrial park seeded by ``openvpp db seed`` and its real-data samples."""

DEMO_SLUG = "demo"
"""The demo organization's slug."""
