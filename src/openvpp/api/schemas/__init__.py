"""API schemas, separate from tables and domain objects. Inputs forbid unknown fields."""
