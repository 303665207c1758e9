"""The metric catalogue and the one engine that computes every metric for the page, the API and CSV."""
