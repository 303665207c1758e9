"""Governance views."""
