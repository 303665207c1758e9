"""`{% stage_playbooks lead %}`: the playbooks of a lead's stage, rendered where the lead is worked.

A tag rather than view context so the lead page (a records view) gains the
panel with a one-line template edit; one query, scoped to the lead's own
organisation.
"""

from django import template

from apps.execution import markdown
from apps.execution.models import Playbook

register = template.Library()


@register.inclusion_tag("execution/playbooks/_for_stage.html", takes_context=True)
def stage_playbooks(context, lead):
    playbooks = Playbook.objects.filter(organization_id=lead.organization_id, stage_id=lead.stage_id)
    return {
        "playbooks": [(p, markdown.render(p.body)) for p in playbooks],
        "stage": lead.stage,
        "current_org": context.get("current_org"),
    }
