"""Measurement pages, one module per area."""
