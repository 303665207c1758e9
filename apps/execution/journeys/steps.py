"""The step types a journey is made of, and their validation.

A step is {"id": "s2", "type": "wait", "wait": {"days": 2}}: its settings sit
under its type's name, so an error names the exact field (`steps[1].wait.days`).
Steps run in list order; a branch may jump to another step by id, or to "end".
"""

from datetime import date

from apps.core.errors import ServiceError
from apps.records import conditions

STEP_TYPES = {
    "email": "Send an e-mail",
    "wait": "Wait",
    "branch": "Branch on a condition",
    "update": "Update a field or stage",
    "task": "Create a task for the owner",
    "notify": "Notify someone",
    "webhook": "Call a webhook",
}
END = "end"
# Lead fields an update step may change (a stage goes through lead_change_stage).
UPDATABLE_FIELDS = ("stage", "title", "phone", "company", "country", "score", "source")
NOTIFY_TARGETS = ("owner", "journey_owner")
# "owner": the lead owner's routing hours, team-calendar holidays and absences (engine._OwnerTimes);
# "org": the organisation's default week in its time zone.
WAIT_BUSINESS_HOURS = ("owner", "org")
MAX_WAIT_DAYS = 365


def _error(index: int, step_type: str, key: str, message: str):
    return ServiceError(message, field=f"steps[{index}].{step_type}.{key}" if key else f"steps[{index}]")


def _int(config: dict, key: str, index: int, step_type: str, *, low=0, high=None, required=False) -> int:
    value = config.get(key)
    if value in (None, ""):
        if required:
            raise _error(index, step_type, key, "This is required.")
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit():
        raise _error(index, step_type, key, "A whole number is required.")
    value = int(value)
    if value < low or (high is not None and value > high):
        raise _error(index, step_type, key, f"Must be between {low} and {high}.")
    return value


def validate_steps(*, org, steps) -> list[dict]:
    """Check a list of steps against the organisation's data; return a normalised copy."""
    if not isinstance(steps, list):
        raise ServiceError("Steps are a list.", field="steps")
    seen: set[str] = set()
    clean = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            raise ServiceError("A step is an object.", field=f"steps[{index}]")
        step_id = str(step.get("id") or "").strip()
        if not step_id or len(step_id) > 40 or step_id == END:
            raise ServiceError("A step needs an id (up to 40 characters).", field=f"steps[{index}].id")
        if step_id in seen:
            raise ServiceError(f"The id {step_id!r} is used twice.", field=f"steps[{index}].id")
        seen.add(step_id)
        step_type = step.get("type")
        if step_type not in STEP_TYPES:
            raise ServiceError(f"Unknown step type {step_type!r}.", field=f"steps[{index}].type")
        config = step.get(step_type) or {}
        if not isinstance(config, dict):
            raise _error(index, step_type, "", "The step's settings are an object.")
        clean.append({"id": step_id, "type": step_type, step_type: VALIDATORS[step_type](org, config, index)})
    for index, step in enumerate(clean):
        if step["type"] == "branch":
            for key in ("then", "else"):
                target = step["branch"][key]
                if target and target != END and target not in seen:
                    raise _error(index, "branch", key, f"There is no step {target!r}.")
    return clean


def _email(org, config, index):
    from apps.execution.models import EmailTemplate

    template = _int(config, "template", index, "email", required=True)
    if not EmailTemplate.objects.for_org(org).filter(pk=template).exists():
        raise _error(index, "email", "template", "No such e-mail template in this organisation.")
    return {"template": template}


def _wait(org, config, index):
    if config.get("until"):
        try:
            date.fromisoformat(str(config["until"]))
        except ValueError:
            raise _error(index, "wait", "until", "A date as YYYY-MM-DD is required.") from None
        return {"until": str(config["until"])}
    if config.get("business_hours"):
        if config["business_hours"] not in WAIT_BUSINESS_HOURS:
            raise _error(index, "wait", "business_hours", "Use 'owner' or 'org'.")
        return {"business_hours": config["business_hours"]}
    days = _int(config, "days", index, "wait", high=MAX_WAIT_DAYS)
    hours = _int(config, "hours", index, "wait", high=23)
    minutes = _int(config, "minutes", index, "wait", high=59)
    if not (days or hours or minutes):
        raise _error(index, "wait", "days", "Wait at least a minute, until a date or for business hours.")
    return {"days": days, "hours": hours, "minutes": minutes}


def _branch(org, config, index):
    rule = config.get("conditions") or []
    try:
        conditions.validate(rule)
    except conditions.ConditionError as exc:
        raise _error(index, "branch", "conditions", str(exc)) from None
    segment = str(config.get("segment") or "").strip()
    if not rule and not segment:
        raise _error(index, "branch", "conditions", "A branch needs a condition or a segment.")
    return {
        "conditions": rule,
        "segment": segment,
        "then": str(config.get("then") or "").strip(),
        "else": str(config.get("else") or "").strip(),
    }


def _update(org, config, index):
    from apps.records.models import LifecycleStage

    field = config.get("field")
    if field not in UPDATABLE_FIELDS:
        raise _error(index, "update", "field", f"Choose one of: {', '.join(UPDATABLE_FIELDS)}.")
    value = config.get("value")
    if field == "stage" and not LifecycleStage.objects.for_org(org).filter(key=value).exists():
        raise _error(index, "update", "value", f"There is no stage {value!r}.")
    if field == "score":
        value = _int(config, "value", index, "update", high=1_000_000, required=True)
    return {"field": field, "value": "" if value is None else value}


def _task(org, config, index):
    title = str(config.get("title") or "").strip()
    if not title or len(title) > 300:
        raise _error(index, "task", "title", "A task needs a title (up to 300 characters).")
    return {"title": title, "due_days": _int(config, "due_days", index, "task", high=365)}


def _notify(org, config, index):
    title = str(config.get("title") or "").strip()
    if not title or len(title) > 200:
        raise _error(index, "notify", "title", "A notification needs a title (up to 200 characters).")
    to = config.get("to") or "owner"
    if to not in NOTIFY_TARGETS:
        raise _error(index, "notify", "to", f"Choose one of: {', '.join(NOTIFY_TARGETS)}.")
    return {"title": title, "to": to, "body": str(config.get("body") or "")[:500]}


def _webhook(org, config, index):
    from apps.integrations.models import WebhookEndpoint

    endpoint = _int(config, "endpoint", index, "webhook", required=True)
    if not WebhookEndpoint.objects.for_org(org).filter(pk=endpoint).exists():
        raise _error(index, "webhook", "endpoint", "No such webhook endpoint in this organisation.")
    return {"endpoint": endpoint}


VALIDATORS = {
    "email": _email,
    "wait": _wait,
    "branch": _branch,
    "update": _update,
    "task": _task,
    "notify": _notify,
    "webhook": _webhook,
}


def describe(step: dict) -> str:
    """One line for a step, as the journey page and the timeline show it."""
    kind, config = step["type"], step.get(step["type"], {})
    if kind == "wait":
        if config.get("until"):
            return f"Wait until {config['until']}"
        if config.get("business_hours"):
            whose = "the owner's" if config["business_hours"] == "owner" else "the organisation's"
            return f"Wait until {whose} business hours"
        parts = [f"{config[k]}{k[0]}" for k in ("days", "hours", "minutes") if config.get(k)]
        return "Wait " + " ".join(parts)
    if kind == "branch":
        tests = [conditions.describe(c) for c in config.get("conditions", [])]
        if config.get("segment"):
            tests.append(f"in segment {config['segment']}")
        then, other = config.get("then") or "next", config.get("else") or "next"
        return f"If {' and '.join(tests)} go to {then}, else {other}"
    if kind == "update":
        return f"Set {config.get('field')} to {config.get('value')}"
    if kind in ("task", "notify"):
        return f"{STEP_TYPES[kind]}: {config.get('title')}"
    if kind == "email":
        return f"Send e-mail template #{config.get('template')}"
    return f"Call webhook endpoint #{config.get('endpoint')}"
