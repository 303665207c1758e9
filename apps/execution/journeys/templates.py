"""One starting journey per motion: sensible steps a team edits before publishing.

`journey_from_template` creates the template's e-mails and a draft journey; the
steps name those e-mails by id, so the draft validates as it stands.
"""

from django.db import transaction

from apps.core.errors import ServiceError

from . import services

TEMPLATES = {
    "capture": {
        "name": "Demand capture: inquiry follow-up",
        "description": "Answer a new inquiry at once, nudge twice, and hand engaged leads to sales.",
        "entry": {"type": "stage_reached", "stage": "inquiry"},
        "exit_goals": [
            {"type": "stage_reached", "stage": "sql"}, {"type": "replied"}, {"type": "unsubscribed"},
        ],
        "suppress_customers": True,
        "emails": {
            "welcome": ("Thanks for reaching out", "Hi {{ first_name }},\n\nThanks for your interest. "
                        "{{ owner_name }} will be in touch about what {{ company }} needs."),
            "nudge": ("A few resources for {{ company }}", "Hi {{ first_name }},\n\nHere is what teams "
                      "like yours usually read first."),
        },
        "steps": [
            {"id": "welcome", "type": "email", "email": {"template": "welcome"}},
            {"id": "wait-2d", "type": "wait", "wait": {"days": 2}},
            {"id": "nudge", "type": "email", "email": {"template": "nudge"}},
            {"id": "wait-hours", "type": "wait", "wait": {"business_hours": "owner"}},
            {"id": "call", "type": "task", "task": {"title": "Call the lead", "due_days": 1}},
        ],
    },
    "nurture": {
        "name": "Nurture: monthly value series",
        "description": "Keep not-yet-ready leads warm and raise them to MQL when they fit.",
        "entry": {"type": "stage_reached", "stage": "recycled"},
        "exit_goals": [{"type": "stage_reached", "stage": "mql"}, {"type": "unsubscribed"}],
        "suppress_customers": True,
        "emails": {
            "guide": ("The guide we promised", "Hi {{ first_name }},\n\nHere is the guide."),
            "case": ("How a team like {{ company }} did it", "Hi {{ first_name }},\n\nA short case study."),
        },
        "steps": [
            {"id": "guide", "type": "email", "email": {"template": "guide"}},
            {"id": "wait-7d", "type": "wait", "wait": {"days": 7}},
            {"id": "case", "type": "email", "email": {"template": "case"}},
            {"id": "fit", "type": "branch", "branch": {
                "conditions": [{"field": "score", "op": "gte", "value": 50}],
                "then": "raise", "else": "end"}},
            {"id": "raise", "type": "update", "update": {"field": "stage", "value": "mql"}},
        ],
    },
    "expansion": {
        "name": "Expansion: upsell to active customers",
        "description": "Show customers what the next tier adds and let the account owner follow up.",
        "entry": {"type": "manual"},
        "exit_goals": [{"type": "opportunity_created"}, {"type": "unsubscribed"}],
        "suppress_customers": False,
        "emails": {
            "tier": ("What {{ company }} could do next", "Hi {{ first_name }},\n\nHere is what the next "
                     "tier adds."),
        },
        "steps": [
            {"id": "tier", "type": "email", "email": {"template": "tier"}},
            {"id": "wait-5d", "type": "wait", "wait": {"days": 5}},
            {"id": "owner", "type": "notify", "notify": {"to": "owner", "title": "Expansion follow-up due"}},
            {"id": "call", "type": "task", "task": {"title": "Discuss the next tier", "due_days": 3}},
        ],
    },
    "retention": {
        "name": "Retention: renewal check-in",
        "description": "Check in before renewal and alert the owner when nobody answers.",
        "entry": {"type": "manual"},
        "exit_goals": [{"type": "replied"}, {"type": "unsubscribed"}],
        "suppress_customers": False,
        "emails": {
            "checkin": ("How is it going, {{ first_name }}?", "Hi {{ first_name }},\n\nYour renewal is "
                        "coming up. Anything we can help with?"),
        },
        "steps": [
            {"id": "checkin", "type": "email", "email": {"template": "checkin"}},
            {"id": "wait-3d", "type": "wait", "wait": {"days": 3}},
            {"id": "alert", "type": "notify",
             "notify": {"to": "owner", "title": "No answer to the renewal check-in"}},
            {"id": "call", "type": "task", "task": {"title": "Call before renewal", "due_days": 2}},
        ],
    },
}  # fmt: skip


@transaction.atomic
def journey_from_template(*, org, motion: str, owner=None, name: str = ""):
    if motion not in TEMPLATES:
        raise ServiceError(f"Choose one of: {', '.join(TEMPLATES)}.", field="motion")
    spec = TEMPLATES[motion]
    title = name or spec["name"]
    ids = {
        key: services.email_template_create(
            org=org, name=f"{title}: {subject}", subject=subject, body=body
        ).pk
        for key, (subject, body) in spec["emails"].items()
    }
    steps = []
    for step in spec["steps"]:
        step = {**step, step["type"]: dict(step[step["type"]])}
        if step["type"] == "email":
            step["email"]["template"] = ids[step["email"]["template"]]
        steps.append(step)
    return services.journey_create(
        org=org,
        name=title,
        motion=motion,
        description=spec["description"],
        owner=owner,
        entry=spec["entry"],
        exit_goals=spec["exit_goals"],
        suppress_customers=spec["suppress_customers"],
        draft_steps=steps,
    )
