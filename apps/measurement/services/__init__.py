"""Measurement writes and computations, one module per area."""
