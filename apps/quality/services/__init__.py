"""Writes of the data-quality app: duplicates, merges and undo, source mappings, completeness rules.

Each service is keyword-only and raises apps.core.errors.ServiceError. Most
are one transaction; the two history rewrites (`sources_reapply`,
`completeness_recompute`) commit batch by batch so a million rows never sit in
one transaction, and are safe to run again (see their docstrings).
"""

from .completeness import (
    completeness_recompute,
    completeness_rule_create,
    completeness_rule_delete,
    completeness_rule_save,
    completeness_rule_update,
)
from .duplicates import duplicate_dismiss, duplicates_detect, duplicates_detect_request
from .jobs import job_request, job_run, jobs_sweep
from .merge import lead_merge, merge_undo
from .sources import (
    source_mapping_create,
    source_mapping_delete,
    source_mapping_update,
    sources_reapply,
    sources_reapply_request,
)

__all__ = [
    "completeness_recompute",
    "completeness_rule_create",
    "completeness_rule_delete",
    "completeness_rule_save",
    "completeness_rule_update",
    "duplicate_dismiss",
    "duplicates_detect",
    "duplicates_detect_request",
    "job_request",
    "job_run",
    "jobs_sweep",
    "lead_merge",
    "merge_undo",
    "source_mapping_create",
    "source_mapping_delete",
    "source_mapping_update",
    "sources_reapply",
    "sources_reapply_request",
]
