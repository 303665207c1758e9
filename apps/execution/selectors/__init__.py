"""Reads for execution pages and the API: one module per area."""
