"""Experiments: the pure statistics (stats.py); the services are in apps/execution/services/experiments.py."""
