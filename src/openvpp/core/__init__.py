"""Shared kernel: errors, clock, ids and other pure building blocks."""
