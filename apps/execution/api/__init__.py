"""The routing API (/api/v1/): assignments, reject reasons, lead routing and previews."""
