"""Deleting the raw rows the facts are built from marks their days dirty, in the database.

The rollup watermark finds rows written or edited since the last run; a deleted
row leaves nothing to find. These triggers write a DirtyDay for every local day
whose facts a delete changes, in the deleting transaction, whoever deletes
(the services, the admin, a cascade or plain SQL):

- a stage event: the days of its lead's events, deleted and kept (a later
  event's previous stage and entry count depend on the earlier ones);
- a touchpoint: its day, and the creation day of the opportunities of its
  person and account (their attribution);
- an assignment: its offer day;
- an opportunity: its creation day (attribution; opportunity facts are rebuilt
  whole on every run anyway), and so does a change of its primary contact or
  account that bypasses `updated_at` (a lead or account deleted under it).

Statement triggers read the deleted rows as a transition table, so deleting a
million rows writes each day once.
"""

from django.db import migrations

INSERT = """
    INSERT INTO measurement_dirtyday (organization_id, created_at, updated_at, day, reason)
    SELECT organization_id, now(), now(), day, {reason} FROM ({days}) AS dirty
    GROUP BY organization_id, day
    ON CONFLICT (organization_id, day) DO NOTHING;
"""

LOCAL_DAY = "(x.at AT TIME ZONE o.time_zone)::date"

FUNCTIONS = {
    "stageevent": f"""
        SELECT x.organization_id, {LOCAL_DAY} AS day
        FROM (
            SELECT organization_id, at FROM gone
            UNION ALL
            SELECT e.organization_id, e.at FROM records_stageevent e
            WHERE e.lead_id IN (SELECT lead_id FROM gone)
        ) x JOIN accounts_organization o ON o.id = x.organization_id
    """,
    "touchpoint": f"""
        SELECT x.organization_id, {LOCAL_DAY} AS day
        FROM (SELECT organization_id, occurred_at AS at FROM gone) x
        JOIN accounts_organization o ON o.id = x.organization_id
        UNION ALL
        SELECT p.organization_id, p.created_date FROM records_opportunity p
        WHERE p.primary_contact_id IN (SELECT lead_id FROM gone)
           OR p.account_id IN (SELECT account_id FROM gone)
    """,
    "assignment": f"""
        SELECT x.organization_id, {LOCAL_DAY} AS day
        FROM (SELECT organization_id, offered_at AS at FROM gone) x
        JOIN accounts_organization o ON o.id = x.organization_id
    """,
    "opportunity": "SELECT organization_id, created_date AS day FROM gone",
}

TABLES = {
    "stageevent": "records_stageevent",
    "touchpoint": "records_touchpoint",
    "assignment": "execution_assignment",
    "opportunity": "records_opportunity",
}


def _create(name: str) -> str:
    reason = f"'{name} deleted'"
    return f"""
    CREATE FUNCTION measurement_{name}_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {INSERT.format(reason=reason, days=FUNCTIONS[name])}
        RETURN NULL;
    END $$;
    CREATE TRIGGER measurement_{name}_deleted AFTER DELETE ON {TABLES[name]}
        REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION measurement_{name}_deleted();
    """


def _drop(name: str) -> str:
    return f"""
    DROP TRIGGER IF EXISTS measurement_{name}_deleted ON {TABLES[name]};
    DROP FUNCTION IF EXISTS measurement_{name}_deleted();
    """


# A row trigger: transition tables cannot be combined with a column list.
REPOINTED = """
    CREATE FUNCTION measurement_opportunity_repointed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO measurement_dirtyday (organization_id, created_at, updated_at, day, reason)
        VALUES (NEW.organization_id, now(), now(), NEW.created_date, 'opportunity contact changed')
        ON CONFLICT (organization_id, day) DO NOTHING;
        RETURN NULL;
    END $$;
    CREATE TRIGGER measurement_opportunity_repointed
        AFTER UPDATE OF primary_contact_id, account_id ON records_opportunity FOR EACH ROW
        WHEN (OLD.primary_contact_id IS DISTINCT FROM NEW.primary_contact_id
              OR OLD.account_id IS DISTINCT FROM NEW.account_id)
        EXECUTE FUNCTION measurement_opportunity_repointed();
"""

UNREPOINTED = """
    DROP TRIGGER IF EXISTS measurement_opportunity_repointed ON records_opportunity;
    DROP FUNCTION IF EXISTS measurement_opportunity_repointed();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_organization_attribution_model"),
        ("execution", "0007_utm_enforce_at_ingest"),
        ("measurement", "0004_diagnostic_snapshot"),
        ("records", "0005_stage_event_written_index"),
    ]

    operations = [
        *(migrations.RunSQL(_create(name), _drop(name)) for name in FUNCTIONS),
        migrations.RunSQL(REPOINTED, UNREPOINTED),
    ]
