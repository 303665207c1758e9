"""Governance api."""
