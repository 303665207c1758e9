"""Change requests: draft → in review → approved → applied (on the effective date) → rolled back.

Who may do what (`APPROVER_ROLES`, the one place it is decided): stage definitions, metric definitions
and the KPI tree are approved by an admin or a RevOps lead; routing and SLA policies also by a sales
manager, whose team lives by them. Anyone who may approve a subject may also propose, apply and roll
back changes to it; everyone in the organisation reads them. The requester does not approve their own
request, unless nobody else in the organisation could (a one-person team must not be stuck).

The base: when a request is drafted, `before` holds the subject's state it was drafted against. If the
subject changes meanwhile (another request applied, or a direct edit while change control was off),
approving or applying is refused with a `conflict`: re-basing (`change_rebase`) takes the current state
as the new base and sends the request back to draft, to be submitted and reviewed again against what
is really there. When the request is applied, `before` is the state it replaced: what a rollback
restores. A rollback is refused once the subject changed after the request was applied (rolling back
would silently undo the later change too): propose the old state as a new request instead.

Effective date: approving a request with no effective date, or one already past, applies it at once;
a future date leaves it approved until `apply_due` (a beat task, every minute) applies it. The task
claims due requests with FOR UPDATE SKIP LOCKED and applies each in its own transaction, so two
workers never apply one twice; one that cannot be applied (a conflict, a check that fails now) stays
approved with its effective date cleared and the reason in its decision note, for a person to handle.

Once applied, `proposed` is replaced by the state as the services stored it (defaults filled in, new
KPI nodes with their ids): the rollback check and the definitions page compare and show real states,
and the proposal as written stays in the request's history.

Every write is a ChangeRequest update tracked by pghistory (the trail on the request's page and in
the audit log), and applying tags the writes it causes with the request's id in the audit context.
Submitting notifies the members who may approve; a decision, or a failed scheduled apply, notifies the
requester.
"""

from datetime import datetime

import pghistory
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Membership
from apps.accounts.roles import Role
from apps.core.errors import ServiceError
from apps.governance.changes import as_of, base, guard, registry
from apps.governance.changes.impact import impact as compute_impact
from apps.governance.models import ChangeRequest, ChangeStatus, ChangeSubject, GovernanceSettings

OPERATORS = frozenset({Role.ADMIN, Role.REVOPS_LEAD})
APPROVER_ROLES: dict[str, frozenset[str]] = {
    ChangeSubject.STAGES: OPERATORS,
    ChangeSubject.METRICS: OPERATORS,
    ChangeSubject.KPI: OPERATORS,
    ChangeSubject.ROUTING: OPERATORS | {Role.SALES_MANAGER},
    ChangeSubject.SLA: OPERATORS | {Role.SALES_MANAGER},
}
EDITABLE = frozenset({ChangeStatus.DRAFT})
OPEN = frozenset({ChangeStatus.DRAFT, ChangeStatus.IN_REVIEW, ChangeStatus.APPROVED})


class ProposalInvalid(ServiceError):
    """The proposed document fails its subject's checks; `fields` names every field at fault."""

    def __init__(self, errors: dict[str, list[str]], *, prefix: str = "proposed"):
        self.errors = {
            f"{prefix}.{field}" if prefix else field: messages for field, messages in errors.items()
        }
        first, messages = next(iter(self.errors.items()))
        super().__init__(f"{first}: {messages[0]}", code="invalid_proposal", field=first)

    @property
    def fields(self) -> dict[str, list[str]]:
        return self.errors


# --- Roles -------------------------------------------------------------------------------------------


def can_approve(membership: Membership | None, subject: str) -> bool:
    return membership is not None and membership.is_active and membership.role in APPROVER_ROLES[subject]


def can_propose(membership: Membership | None, subject: str | None = None) -> bool:
    """Whether `membership` may draft (and apply, roll back) requests on `subject` (None: on any)."""
    subjects = [subject] if subject else list(APPROVER_ROLES)
    return any(can_approve(membership, s) for s in subjects)


def approver_labels(subject: str) -> str:
    return ", ".join(Role(role).label for role in Role if role in APPROVER_ROLES[subject])


def _require(membership, subject: str, what: str) -> None:
    if not can_approve(membership, subject):
        raise PermissionDenied(
            f"Only these roles may {what} a change to {ChangeSubject(subject).label.lower()}: "
            f"{approver_labels(subject)}."
        )


def self_approval_allowed(change: ChangeRequest, membership: Membership) -> bool:
    """The requester approves their own request only when no other active member could."""
    if change.requested_by_id != membership.pk:
        return True
    others = (
        Membership.objects.for_org(change.organization_id)
        .filter(is_active=True, role__in=APPROVER_ROLES[change.subject])
        .exclude(pk=membership.pk)
    )
    return not others.exists()


# --- Notifications -----------------------------------------------------------------------------------


def _notify(change: ChangeRequest, recipient_ids, title: str, body: str = "") -> None:
    """An in-app notification (and its e-mail) to each recipient, linking to the request."""
    from apps.execution.services.notifications import notify

    url = reverse("governance_change", args=[change.organization.slug, change.pk])
    for recipient_id in sorted({pk for pk in recipient_ids if pk}):
        notify(org=change.organization, recipient_id=recipient_id, kind="change_request", title=title,
               body=body, url=url)  # fmt: skip


def _approver_ids(change: ChangeRequest) -> list[int]:
    return list(
        Membership.objects.for_org(change.organization_id)
        .filter(is_active=True, role__in=APPROVER_ROLES[change.subject])
        .exclude(pk=change.requested_by_id)
        .values_list("pk", flat=True)
    )


# --- Settings ----------------------------------------------------------------------------------------


def governance_settings(*, org) -> GovernanceSettings:
    return GovernanceSettings.objects.for_org(org).first() or GovernanceSettings(organization=org)


@transaction.atomic
def change_control_set(*, org, enabled: bool) -> GovernanceSettings:
    settings, _ = GovernanceSettings.objects.select_for_update().get_or_create(organization=org)
    settings.change_control = bool(enabled)
    settings.save(update_fields=["change_control", "updated_at"])
    return settings


# --- Reading -----------------------------------------------------------------------------------------


def current_state(change: ChangeRequest):
    return registry.adapter(change.subject).export(change.organization, change.target_id)


def change_diff(change: ChangeRequest) -> list[str]:
    """Applied or rolled back: what it changed; otherwise: what it would change now."""
    module = registry.adapter(change.subject)
    if change.status in (ChangeStatus.APPLIED, ChangeStatus.ROLLED_BACK):
        return module.diff(change.before, change.proposed)
    return module.diff(current_state(change), change.proposed)


def readable_diff(change: ChangeRequest) -> list[str]:
    """For routing, the rules diffed as people read them; empty for other subjects."""
    module = registry.adapter(change.subject)
    if not hasattr(module, "readable_diff"):
        return []
    applied = change.status in (ChangeStatus.APPLIED, ChangeStatus.ROLLED_BACK)
    old = change.before if applied else current_state(change)
    try:
        return module.readable_diff(change.organization, change.target_id, old, change.proposed)
    except (KeyError, TypeError, AttributeError):
        return []  # a draft whose JSON is not a valid policy yet: the JSON diff says it all


def has_conflict(change: ChangeRequest) -> bool:
    """The subject changed since the request was drafted (its base is no longer the current state)."""
    return change.status in OPEN and not base.same(change.before, current_state(change))


def target_label(change: ChangeRequest) -> str:
    return registry.adapter(change.subject).target_label(change.organization, change.target_id)


# --- Writes ------------------------------------------------------------------------------------------


def _effective(value) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, datetime) or timezone.is_naive(value):
        raise ServiceError(
            "Give the effective moment as a date and time with its time zone.", field="effective_at"
        )
    return value


def _title(value) -> str:
    title = " ".join(str(value or "").split())
    if not title:
        raise ServiceError("Give the change a title that says what it does.", field="title")
    if len(title) > 200:
        raise ServiceError(f"At most 200 characters ({len(title)} given).", field="title")
    return title


def _check_proposal(org, subject: str, target, proposed) -> None:
    errors = registry.adapter(subject).validate(org, target, proposed)
    if errors:
        raise ProposalInvalid(errors)


@transaction.atomic
def change_create(
    *,
    org,
    by: Membership,
    subject: str,
    title: str,
    target_id: int | None = None,
    rationale: str = "",
    proposed=None,
    effective_at=None,
) -> ChangeRequest:
    """A draft; `proposed` starts as the subject's current state when not given."""
    module = registry.adapter(subject)
    _require(by, subject, "propose")
    if subject not in registry.TARGETED and target_id is not None:
        raise ServiceError(f"{ChangeSubject(subject).label} have no target to choose.", field="target_id")
    if subject in registry.TARGETED and target_id is not None and target_id not in dict(module.targets(org)):
        raise ServiceError("No such object in this organisation.", field="target_id")
    current = module.export(org, target_id)
    if proposed is None:
        proposed = current
    else:
        _check_proposal(org, subject, target_id, proposed)
    return ChangeRequest.objects.create(
        organization=org,
        subject=subject,
        target_id=target_id,
        title=_title(title),
        rationale=str(rationale or "").strip(),
        proposed=proposed,
        before=current,
        effective_at=_effective(effective_at),
        requested_by=by,
    )


@transaction.atomic
def change_update(*, org, change: ChangeRequest, by: Membership, **fields) -> ChangeRequest:
    """Edit a draft: title, rationale, proposed, effective_at."""
    change = _locked(org, change)
    _require(by, change.subject, "edit")
    if change.status not in EDITABLE:
        raise ServiceError("Only a draft can be edited; re-base it to edit it again.", code="not_draft")
    unknown = sorted(set(fields) - {"title", "rationale", "proposed", "effective_at"})
    if unknown:
        raise ServiceError("This field cannot be changed.", field=unknown[0])
    if "title" in fields:
        change.title = _title(fields["title"])
    if "rationale" in fields:
        change.rationale = str(fields["rationale"] or "").strip()
    if "effective_at" in fields:
        change.effective_at = _effective(fields["effective_at"])
    if "proposed" in fields:
        _check_proposal(org, change.subject, change.target_id, fields["proposed"])
        change.proposed = fields["proposed"]
        change.impact = None  # computed for the old proposal
    change.save()
    return change


def _locked(org, change: ChangeRequest) -> ChangeRequest:
    if change.organization_id != org.pk:
        raise ServiceError("No such change request here.", code="not_found")
    return ChangeRequest.objects.select_for_update().select_related("organization").get(pk=change.pk)


def _status(change: ChangeRequest, *allowed: str, action: str) -> None:
    if change.status not in allowed:
        raise ServiceError(
            f"A request that is {change.get_status_display().lower()} cannot be {action}.",
            code="wrong_status",
        )


def _refuse_conflict(change: ChangeRequest) -> None:
    if not base.same(change.before, current_state(change)):
        raise ServiceError(
            f"{target_label(change)} changed since this request was drafted. Re-base it on the current "
            "state (it goes back to draft), check the diff, and submit it again.",
            code="conflict",
        )


@transaction.atomic
def change_submit(*, org, change: ChangeRequest, by: Membership) -> ChangeRequest:
    change = _locked(org, change)
    _require(by, change.subject, "submit")
    _status(change, ChangeStatus.DRAFT, action="submitted")
    _check_proposal(org, change.subject, change.target_id, change.proposed)
    if base.same(change.proposed, current_state(change)):
        raise ServiceError(
            "The proposed state is the current one: there is nothing to change.", field="proposed"
        )
    change.status = ChangeStatus.IN_REVIEW
    change.submitted_at = timezone.now()
    change.save()
    _notify(change, _approver_ids(change), f"Change request to review: {change.title}", change.rationale)
    return change


@transaction.atomic
def change_approve(
    *, org, change: ChangeRequest, by: Membership, note: str = "", now: datetime | None = None
) -> ChangeRequest:
    """Approve; applied at once unless its effective date is still ahead."""
    now = now or timezone.now()
    change = _locked(org, change)
    _require(by, change.subject, "approve")
    _status(change, ChangeStatus.IN_REVIEW, action="approved")
    if not self_approval_allowed(change, by):
        raise ServiceError(
            "You requested this change: someone else who may approve it has to.", code="self_approval"
        )
    _refuse_conflict(change)
    change.status = ChangeStatus.APPROVED
    change.decided_by = by
    change.decided_at = now
    change.decision_note = str(note or "").strip()
    change.save()
    if change.effective_at is None or change.effective_at <= now:
        _apply(change, by=by, now=now)
    if change.requested_by_id != by.pk:
        _notify(
            change, [change.requested_by_id], f"Change request approved: {change.title}", change.decision_note
        )
    return change


@transaction.atomic
def change_reject(*, org, change: ChangeRequest, by: Membership, note: str = "") -> ChangeRequest:
    change = _locked(org, change)
    _require(by, change.subject, "reject")
    _status(change, ChangeStatus.IN_REVIEW, ChangeStatus.APPROVED, action="rejected")
    note = str(note or "").strip()
    if not note:
        raise ServiceError("Say why, so the requester knows what to change.", field="note")
    change.status = ChangeStatus.REJECTED
    change.decided_by = by
    change.decided_at = timezone.now()
    change.decision_note = note
    change.save()
    _notify(change, [change.requested_by_id], f"Change request rejected: {change.title}", note)
    return change


@transaction.atomic
def change_rebase(*, org, change: ChangeRequest, by: Membership) -> ChangeRequest:
    """Take the subject's current state as the request's base; back to draft, to be reviewed again."""
    change = _locked(org, change)
    _require(by, change.subject, "re-base")
    _status(change, *OPEN, action="re-based")
    change.before = current_state(change)
    change.status = ChangeStatus.DRAFT
    change.submitted_at = change.decided_by = change.decided_at = None
    change.impact = None
    change.save()
    return change


@transaction.atomic
def change_apply(*, org, change: ChangeRequest, by: Membership | None, now: datetime | None = None):
    """Apply an approved request now (ahead of its effective date if it has one)."""
    change = _locked(org, change)
    if by is not None:
        _require(by, change.subject, "apply")
    _status(change, ChangeStatus.APPROVED, action="applied")
    return _apply(change, by=by, now=now or timezone.now())


def _apply(change: ChangeRequest, *, by: Membership | None, now: datetime) -> ChangeRequest:
    _refuse_conflict(change)
    module = registry.adapter(change.subject)
    org = change.organization
    note = f"Change request #{change.pk}: {change.title}"[:300]
    before = module.export(org, change.target_id)
    if change.subject == ChangeSubject.SLA and change.target_id is None:
        before = {}  # the policy does not exist yet; rolling back switches it off
    with guard.applying_change_request(), pghistory.context(change_request=change.pk):
        try:
            result = module.apply(org, change.target_id, change.proposed, by=by, note=note)
        except ServiceError as error:
            raise ProposalInvalid(
                {error.field or "proposed": [error.message]}, prefix="proposed" if error.field else ""
            ) from None
    if change.subject == ChangeSubject.SLA and change.target_id is None:
        change.target_id = result
    # The state as the services stored it (defaults filled in, new KPI nodes with their ids): what
    # a rollback checks is still in place and what the definitions page shows as of a date. The
    # document as proposed stays in the request's history.
    change.proposed = module.export(org, change.target_id)
    change.before = before
    change.status = ChangeStatus.APPLIED
    change.applied_at = now
    change.save()
    return change


@transaction.atomic
def change_rollback(*, org, change: ChangeRequest, by: Membership, now: datetime | None = None):
    """Put back the state the request replaced."""
    change = _locked(org, change)
    _require(by, change.subject, "roll back")
    _status(change, ChangeStatus.APPLIED, action="rolled back")
    module = registry.adapter(change.subject)
    if not base.same(change.proposed, module.export(org, change.target_id)):
        raise ServiceError(
            f"{target_label(change)} changed after this request was applied; rolling it back would undo that "
            "change too. Propose the earlier state as a new change request instead.",
            code="conflict",
        )
    note = f"Rollback of change request #{change.pk}: {change.title}"[:300]
    with guard.applying_change_request(), pghistory.context(change_request=change.pk, rollback=True):
        module.apply(org, change.target_id, change.before, by=by, note=note)
    change.status = ChangeStatus.ROLLED_BACK
    change.rolled_back_at = now or timezone.now()
    change.rolled_back_by = by
    change.save()
    return change


@transaction.atomic
def change_preview(*, org, change: ChangeRequest, now: datetime | None = None) -> ChangeRequest:
    """Compute and store the impact preview (routing and SLA replayed on the last 30 days)."""
    change = _locked(org, change)
    if change.status not in OPEN:
        raise ServiceError("The preview is for a request not applied yet.", code="wrong_status")
    errors = registry.adapter(change.subject).validate(org, change.target_id, change.proposed)
    if errors:
        raise ProposalInvalid(errors)
    change.impact = compute_impact(
        org, change.subject, change.target_id, current_state(change), change.proposed, now=now
    )
    change.save(update_fields=["impact", "updated_at"])
    return change


# --- The beat task -----------------------------------------------------------------------------------


def apply_due(*, now: datetime | None = None, limit: int = 50) -> int:
    """Apply approved requests whose effective date has passed; returns how many were applied.

    Each request is claimed (FOR UPDATE SKIP LOCKED) and applied in its own transaction: a worker
    running at the same time skips the rows this one holds, and a request once applied is no longer
    approved, so it is never applied twice.
    """
    now = now or timezone.now()
    applied = 0
    for _ in range(limit):
        with transaction.atomic():
            change = (
                ChangeRequest.objects.select_for_update(skip_locked=True)
                .select_related("organization")
                .filter(status=ChangeStatus.APPROVED, effective_at__lte=now)
                .order_by("effective_at", "pk")
                .first()
            )
            if change is None:
                break
            try:
                with transaction.atomic():
                    # The approver is the one accountable for the writes (published by, version author).
                    _apply(change, by=change.decided_by, now=now)
            except ServiceError as error:
                change.effective_at = None
                stamp = timezone.localtime(now).strftime("%Y-%m-%d %H:%M")
                change.decision_note = (
                    f"{change.decision_note}\nNot applied on {stamp}: {error.message}".strip()
                )
                change.save(update_fields=["effective_at", "decision_note", "updated_at"])
                _notify(change, [change.requested_by_id, change.decided_by_id],
                        f"Change request not applied: {change.title}", error.message)  # fmt: skip
            else:
                applied += 1
    return applied


# --- The operating model as of a date ---------------------------------------------------------------


def applied_state_at(*, org, subject: str, target_id, at: datetime):
    """The subject's state at `at` according to change requests: (document, request, "applied" or
    "rolled back") of the last apply or rollback before `at`; (None, None, None) when none happened."""
    found = as_of.state_from_requests(org, subject, target_id, at)
    return found[:3] if found else (None, None, None)
