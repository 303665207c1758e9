"""The records pages: lead, account and opportunity lists and details, and the shared definitions.

One module per area: `lists` (lists, CSV export, bulk actions), `saved_views`,
`details` (lead, account and opportunity pages) and `definitions` (stages,
versions, custom fields). The views are re-exported here for urls.py.
"""

from .definitions import (
    records_custom_field_delete,
    records_custom_fields,
    records_definition_version,
    records_definitions,
    records_stage_edit,
)
from .details import (
    records_account,
    records_lead,
    records_opportunity,
)
from .lists import (
    BULK_MAX,
    BULK_PERMISSIONS,
    ListContext,
    ListState,
    records_accounts,
    records_accounts_bulk,
    records_accounts_export,
    records_leads,
    records_leads_bulk,
    records_leads_export,
    records_opportunities,
    records_opportunities_bulk,
    records_opportunities_export,
)
from .saved_views import (
    records_view_delete,
    records_view_save,
)

__all__ = [
    "BULK_MAX",
    "BULK_PERMISSIONS",
    "ListContext",
    "ListState",
    "records_account",
    "records_accounts",
    "records_accounts_bulk",
    "records_accounts_export",
    "records_custom_field_delete",
    "records_custom_fields",
    "records_definition_version",
    "records_definitions",
    "records_lead",
    "records_leads",
    "records_leads_bulk",
    "records_leads_export",
    "records_opportunities",
    "records_opportunities_bulk",
    "records_opportunities_export",
    "records_opportunity",
    "records_stage_edit",
    "records_view_delete",
    "records_view_save",
]
