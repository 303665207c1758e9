"""In-process checks for the routing benchmarks, run with the bench settings:

    python -m bench.check_routing verify ORG_SLUG     # every lead assigned, with an SLA timer
    python -m bench.check_routing race ORG_SLUG       # the concurrency invariants
    python -m bench.check_routing profile API_KEY N   # the SQL of N lead POSTs

Each prints one line of JSON. `verify` and `race` read the database as it is
after the load; `profile` posts N leads through Django's test client (the real
stack: API key, DRF, `lead_create`, routing on commit) and reports what SQL the
request ran, the costliest statement shapes, and the decisions' own `decide_ms`.
"""

import json
import re
import statistics
import sys
import time

import django

LIVE = ("offered", "accepted")


def _rows(sql: str, params=()) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _org(slug: str):
    from apps.accounts.models import Organization

    return Organization.objects.get(slug=slug)


def verify(org_slug: str) -> dict:
    """How many of the organisation's leads lack a live assignment or an SLA timer, and
    how the decisions split by rule (the account-owner rule must have fired)."""
    org = _org(org_slug)
    ((leads, unassigned, untimed, pending),) = _rows(
        """
        SELECT count(*),
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM execution_assignment a
                   WHERE a.lead_id = l.id AND a.status IN ('offered', 'accepted'))),
               count(*) FILTER (WHERE NOT EXISTS (
                   SELECT 1 FROM execution_slatimer t WHERE t.lead_id = l.id)),
               (SELECT count(*) FROM execution_routingrequest r
                WHERE r.organization_id = %s AND r.status = 'pending')
        FROM records_lead l WHERE l.organization_id = %s
        """,
        [org.pk, org.pk],
    )
    by_rule = dict(
        _rows(
            "SELECT rule_name, count(*) FROM execution_routingdecision WHERE organization_id = %s "
            "GROUP BY rule_name ORDER BY rule_name",
            [org.pk],
        )
    )
    decide_ms = [
        row[0]
        for row in _rows(
            "SELECT (timings->>'decide_ms')::float FROM execution_routingdecision "
            "WHERE organization_id = %s AND timings ? 'decide_ms'",
            [org.pk],
        )
    ]
    return {
        "leads": leads,
        "unassigned": unassigned,
        "untimed": untimed,
        "pending_requests": pending,
        "by_rule": by_rule,
        "decide_ms_p50": statistics.median(decide_ms) if decide_ms else None,
        "decide_ms_p99": _pct(decide_ms, 99) if decide_ms else None,
    }


def _pct(values, p):
    import math

    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def race(org_slug: str) -> dict:
    """The invariants a parallel load must keep (see bench_routing.race)."""
    from apps.execution.models import PoolMember, RepProfile

    org = _org(org_slug)
    ((leads,),) = _rows("SELECT count(*) FROM records_lead WHERE organization_id = %s", [org.pk])
    ((double_live,),) = _rows(
        """
        SELECT count(*) FROM (
            SELECT lead_id FROM execution_assignment
            WHERE organization_id = %s AND status IN ('offered', 'accepted')
            GROUP BY lead_id HAVING count(*) > 1) AS doubled
        """,
        [org.pk],
    )
    ((double_created,),) = _rows(
        """
        SELECT count(*) FROM (
            SELECT a.lead_id FROM execution_assignment a
            JOIN execution_routingdecision d ON d.id = a.decision_id
            WHERE a.organization_id = %s AND d.trigger = 'created'
            GROUP BY a.lead_id HAVING count(*) > 1) AS doubled
        """,
        [org.pk],
    )
    ((not_once,),) = _rows(
        """
        SELECT count(*) FROM records_lead l
        WHERE l.organization_id = %s
          AND (SELECT count(*) FROM execution_assignment a WHERE a.lead_id = l.id) <> 1
        """,
        [org.pk],
    )
    ((pending,),) = _rows(
        "SELECT count(*) FROM execution_routingrequest WHERE organization_id = %s AND status = 'pending'",
        [org.pk],
    )
    counts = dict(
        _rows(
            "SELECT assignee_id, count(*) FROM execution_assignment WHERE organization_id = %s "
            "GROUP BY assignee_id",
            [org.pk],
        )
    )
    capped = RepProfile.objects.for_org(org).exclude(daily_cap__isnull=True, open_cap__isnull=True).get()
    members = list(PoolMember.objects.for_org(org).values("membership_id", "assigned_count"))
    uncapped = [
        counts.get(m["membership_id"], 0) for m in members if m["membership_id"] != capped.membership_id
    ]
    ledger_mismatch = sum(1 for m in members if m["assigned_count"] != counts.get(m["membership_id"], 0))
    live_capped = _rows(
        "SELECT count(*) FROM execution_assignment WHERE organization_id = %s AND assignee_id = %s "
        "AND status IN ('offered', 'accepted')",
        [org.pk, capped.membership_id],
    )[0][0]
    return {
        "leads": leads,
        "double_live": double_live,
        "double_created": double_created,
        "not_assigned_once": not_once,
        "pending_requests": pending,
        "spread": max(uncapped) - min(uncapped),
        "per_rep": sorted(uncapped),
        "capped_assigned": counts.get(capped.membership_id, 0),
        "capped_live": live_capped,
        "daily_cap": capped.daily_cap,
        "open_cap": capped.open_cap,
        "ledger_mismatch": ledger_mismatch,
    }


_LITERALS = re.compile(r"'[^']*'|\b\d+\b")
# pghistory puts its context in front of each statement of a tracked request.
_CONTEXT = re.compile(r"^\s*SELECT set_config\('pghistory\.context_id'.*?;\s*", re.DOTALL)


def _statement(sql: str) -> str:
    return _CONTEXT.sub("", sql, count=1)


def profile(api_key: str, count: int) -> dict:
    """POST `count` leads in-process; how many statements each ran, and which cost most."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    stamp = time.time_ns()
    statements, totals, shapes, lead_ids = [], [], {}, []
    for i in range(count):
        body = {"email": f"profile{stamp}-{i}@acct{i % 20:02d}.example.com", "source": "Webinar"}
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as captured:
            response = client.post(
                "/api/v1/leads/",
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {api_key}",
            )
        totals.append((time.perf_counter() - started) * 1000)
        if response.status_code != 201:
            raise RuntimeError(f"POST answered {response.status_code}: {response.content[:300]}")
        statements.append(len(captured.captured_queries))
        if i == 0:
            continue  # the first request warms caches (the key, the content types)
        lead_ids.append(response.json()["id"])
        for query in captured.captured_queries:
            sql = _statement(query["sql"])
            shape = _LITERALS.sub("?", " ".join(sql.split()))[:100]
            ms, times = shapes.get(shape, (0.0, 0))
            shapes[shape] = (ms + float(query["time"]) * 1000, times + 1)
    measured = max(1, count - 1)
    ranked = sorted(shapes.items(), key=lambda item: -item[1][0])
    decide_ms = [
        row[0]
        for row in _rows(
            "SELECT (timings->>'decide_ms')::float FROM execution_routingdecision "
            "WHERE lead_id = ANY(%s) AND timings ? 'decide_ms'",
            [lead_ids],
        )
    ]
    return {
        "statements": statistics.median(statements),
        "request_ms_p50": statistics.median(totals[1:] or totals),
        "sql_ms_per_request": round(sum(ms for ms, _ in shapes.values()) / measured, 2),
        "decide_ms_p50": statistics.median(decide_ms) if decide_ms else None,
        # [ms per request, statements per request, the statement's start]
        "top": [
            [round(ms / measured, 2), round(times / measured, 1), shape] for shape, (ms, times) in ranked[:12]
        ],
    }


if __name__ == "__main__":
    usage = "usage: python -m bench.check_routing verify ORG | race ORG | profile API_KEY N"
    if len(sys.argv) < 3:
        sys.exit(usage)
    django.setup()
    if sys.argv[1] == "verify":
        print(json.dumps(verify(sys.argv[2])))
    elif sys.argv[1] == "race":
        print(json.dumps(race(sys.argv[2])))
    elif sys.argv[1] == "profile" and len(sys.argv) == 4:
        print(json.dumps(profile(sys.argv[2], int(sys.argv[3]))))
    else:
        sys.exit(usage)
