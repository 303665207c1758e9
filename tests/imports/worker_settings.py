"""Settings for the Celery workers of tests/imports/test_worker.py: the real ones, smaller batches.

Small batches make a job long enough (dozens of commits) to be killed in the
middle of it deterministically.
"""

from revops.settings import *  # noqa: F403

IMPORT_BATCH_ROWS = 250
