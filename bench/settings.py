"""Settings for the benchmarks' gunicorn: the real settings plus bench-only URLs.

The bare `SELECT 1` view must be served by the same process as the API, but it
has no place in the product's URLconf, so only this module points at it.
"""

from revops.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
