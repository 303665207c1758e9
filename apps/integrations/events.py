"""The catalogue of events revops publishes to webhooks.

Endpoints subscribe to a subset (none selected means all). Adding an event
type: add it here, emit it with `outbox_emit` inside the service's transaction,
and document its payload in the README.
"""

EVENT_TYPES: dict[str, str] = {
    "lead.created": "A lead was created (API, import or UI).",
    "lead.routed": "A lead was offered to a person by a routing policy.",
    "account.routed": "An account without an owner was given one by the account routing policy.",
    "opportunity.routed": "An opportunity without an owner was given one by the opportunity routing policy.",
    "assignment.accepted": "A rep accepted an offered lead.",
    "assignment.rejected": "A rep rejected an offered lead, with a reason.",
    "sla.breached": "An SLA clock ran out.",
    "stage.changed": "A record moved to another lifecycle stage.",
    "team.created": "A team was created.",
    "team.updated": "A team's name, kind, manager or members changed.",
    "member.joined": "A person joined the organisation.",
    "webhook.test": "A test event sent from the webhook settings page.",
    "journey.webhook": "A journey's webhook step ran for a lead (sent only to the endpoint the step names).",
}

EVENT_CHOICES = [(key, key) for key in EVENT_TYPES]
