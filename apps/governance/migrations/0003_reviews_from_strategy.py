"""Quarterly strategy reviews move onto the operating review record (apps.governance.reviews_copy),
and a held review's snapshot is protected by the database: no update may change it."""

from django.db import migrations

from apps.governance.reviews_copy import copy_strategy_reviews

FROZEN_SNAPSHOT = """
CREATE OR REPLACE FUNCTION governance_review_snapshot_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.status = 'held' AND NEW.snapshot IS DISTINCT FROM OLD.snapshot THEN
        RAISE EXCEPTION 'The snapshot of a held operating review never changes (review %).', OLD.id;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER governance_review_snapshot_frozen
    BEFORE UPDATE ON governance_operatingreview
    FOR EACH ROW EXECUTE FUNCTION governance_review_snapshot_frozen();
"""

THAWED = """
DROP TRIGGER IF EXISTS governance_review_snapshot_frozen ON governance_operatingreview;
DROP FUNCTION IF EXISTS governance_review_snapshot_frozen();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_settings"),
        ("strategy", "0002_kpi_segments_plan"),
    ]

    operations = [
        migrations.RunPython(copy_strategy_reviews, migrations.RunPython.noop),
        migrations.RunSQL(FROZEN_SNAPSHOT, THAWED),
    ]
