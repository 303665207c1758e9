"""Moving the quarterly strategy reviews of apps.strategy onto the operating review record.

A plain function over a model registry (the migration's historical models, or a test's), so the
copy can be run and checked on its own. Each StrategyReview becomes a held quarterly OperatingReview
of its fiscal quarter with its snapshot, notes and author as they were; each StrategyDecision becomes
a Decision, plus an ActionItem (the same text) when it had an owner, a due date or was done. When an
organisation held two reviews of the same quarter, the first one's snapshot is kept and the later
one's notes and decisions join it. Migrated reviews count as having had their digest sent.
"""

from apps.strategy.fiscal import fiscal_quarter_range


def copy_strategy_reviews(apps, schema_editor=None) -> int:
    """Copy every strategy review and decision; returns how many reviews were copied or merged."""
    StrategyReview = apps.get_model("strategy", "StrategyReview")
    StrategyDecision = apps.get_model("strategy", "StrategyDecision")
    Organization = apps.get_model("accounts", "Organization")
    OperatingReview = apps.get_model("governance", "OperatingReview")
    Decision = apps.get_model("governance", "Decision")
    ActionItem = apps.get_model("governance", "ActionItem")

    start_months = dict(Organization.objects.values_list("pk", "fiscal_year_start_month"))
    copied = 0
    for old in StrategyReview.objects.order_by("organization_id", "held_on", "id"):
        start, end = fiscal_quarter_range(start_months[old.organization_id], old.fiscal_year, old.quarter)
        review = OperatingReview.objects.filter(
            organization_id=old.organization_id, kind="quarterly", period_start=start
        ).first()
        if review is None:
            review = OperatingReview.objects.create(
                organization_id=old.organization_id,
                kind="quarterly",
                period_start=start,
                period_end=end,
                status="held",
                held_on=old.held_on,
                snapshot=old.snapshot,
                notes=old.notes,
                created_by_id=old.created_by_id,
                digest_sent_at=old.created_at,
            )
            OperatingReview.objects.filter(pk=review.pk).update(created_at=old.created_at)
        elif old.notes:
            notes = f"{review.notes}\n\nReview of {old.held_on.isoformat()}: {old.notes}".strip()
            OperatingReview.objects.filter(pk=review.pk).update(notes=notes)
        for old_decision in StrategyDecision.objects.filter(review_id=old.pk).order_by("id"):
            decision = Decision.objects.create(
                organization_id=old.organization_id,
                review=review,
                text=old_decision.text,
                rationale=old_decision.rationale,
            )
            Decision.objects.filter(pk=decision.pk).update(created_at=old_decision.created_at)
            if old_decision.owner_id or old_decision.due or old_decision.done:
                ActionItem.objects.create(
                    organization_id=old.organization_id,
                    review=review,
                    decision=decision,
                    title=old_decision.text[:300],
                    owner_id=old_decision.owner_id,
                    due=old_decision.due,
                    status="done" if old_decision.done else "open",
                    completed_at=old_decision.updated_at if old_decision.done else None,
                )
        copied += 1
    return copied
