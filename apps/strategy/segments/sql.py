"""Segment rules compiled to SQL that gives exactly the Python scorer's answer.

`membership_statement` writes the memberships of some segments (all of one
object type) for a scope — every record, one record, or the leads of one
account — in ONE statement: a CTE scores every (record, segment) pair, then
members are inserted or have their score updated, and leavers are deleted.

How each operator matches apps.records.conditions.holds:
- a value is empty when NULL, blank text (spaces, tabs, newlines), a JSON
  null, "" , [] or {}; on an empty value only `not_equals` / `not_in` hold;
- when both sides read as numbers (digits, sign, decimal point, exponent,
  surrounding spaces) they compare as numbers, otherwise as lower-cased text
  compared by code point (COLLATE "C"), as Python compares casefolded strings;
- `contains` / `starts_with` compare lower-cased text.
Lower-casing is ASCII-exact; Python's casefold and PostgreSQL's lower() can
differ on a few non-ASCII letters (ß), and Python reads "NaN", "Infinity" and
"1_000" as numbers where SQL does not.
"""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from .fields import ACCOUNT, BEHAVIOUR_DAYS, LEAD, field, joins_of

# Only ASCII white space: PostgreSQL's numeric input skips no other, and a value the
# pattern accepts must cast without error.
NUMBER_RE = r"^[ \t\n\r\f\v]*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?[ \t\n\r\f\v]*$"
BLANK = "E' \\t\\n\\r\\f\\v'"

TABLES = {LEAD: ("records_lead", "lead_id"), ACCOUNT: ("records_account", "account_id")}
ALL, RECORD, ACCOUNT_LEADS = "all", "record", "account_leads"


class _Params:
    """Collects literal values as named parameters (never formatted into the SQL)."""

    def __init__(self):
        self.values = {}

    def add(self, value) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"%({name})s"


def _python_number(value) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        return Decimal(str(value).strip()) if not isinstance(value, int | float) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _shapes(spec) -> tuple[str, str, str, str]:
    """(empty, text, is_number, number) SQL for a field; text and number are read only when not empty."""
    col = spec.sql
    if spec.kind == "text":
        return (f"({col} IS NULL OR btrim({col}, {BLANK}) = '')", col, f"({col} ~ '{NUMBER_RE}')",
                f"({col})::numeric")  # fmt: skip
    if spec.kind in {"number", "count"}:
        empty = "FALSE" if spec.kind == "count" else f"({col} IS NULL)"
        return empty, f"({col})::text", "TRUE", f"({col})::numeric"
    text = f"({col} #>> '{{}}')"
    empty = (
        f"({col} IS NULL OR jsonb_typeof({col}) = 'null' OR {col} IN ('[]'::jsonb, '{{}}'::jsonb)"
        f" OR (jsonb_typeof({col}) = 'string' AND btrim({text}, {BLANK}) = ''))"
    )
    is_number = (
        f"(jsonb_typeof({col}) = 'number' OR (jsonb_typeof({col}) = 'string' AND {text} ~ '{NUMBER_RE}'))"
    )
    return empty, text, is_number, f"{text}::numeric"


_SQL_OPS = {"equals": "=", "not_equals": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _compare(op: str, expected, shapes, params: _Params) -> str:
    _, text, is_number, number = shapes
    as_text = f'(lower({text}) COLLATE "C" {_SQL_OPS[op]} {params.add(str(expected).casefold())})'
    numeric = _python_number(expected)
    if numeric is None:
        return as_text
    as_number = f"({number} {_SQL_OPS[op]} {params.add(str(numeric))}::numeric)"
    if is_number == "TRUE":
        return as_number
    return f"(CASE WHEN {is_number} THEN {as_number} ELSE {as_text} END)"


def condition_sql(condition: dict, object_type: str, params: _Params) -> str:
    """A boolean SQL expression, never NULL, true exactly when conditions.holds is."""
    shapes = _shapes(field(object_type, condition["field"]))
    empty, text = shapes[0], shapes[1]
    op, expected = condition["op"], condition.get("value")
    if op == "is_empty":
        return empty
    if op == "is_not_empty":
        return f"(NOT {empty})"
    if op in {"in", "not_in"}:
        found = " OR ".join(_compare("equals", option, shapes, params) for option in expected)
        test = f"({found})" if op == "in" else f"(NOT ({found}))"
    elif op == "contains":
        test = f"(strpos(lower({text}), {params.add(str(expected).casefold())}) > 0)"
    elif op == "starts_with":
        test = f"(strpos(lower({text}), {params.add(str(expected).casefold())}) = 1)"
    else:
        test = _compare(op, expected, shapes, params)
    on_empty = "TRUE" if op in {"not_equals", "not_in"} else "FALSE"
    return f"(CASE WHEN {empty} THEN {on_empty} ELSE {test} END)"


def score_sql(rules: list[dict], object_type: str, params: _Params) -> str:
    """The fit score: the sum of the points of the rules whose conditions all hold."""
    terms = []
    for rule in rules:
        if not rule["conditions"]:
            continue  # an empty rule matches nothing, as conditions.matches says
        test = " AND ".join(condition_sql(c, object_type, params) for c in rule["conditions"])
        terms.append(f"(CASE WHEN {test} THEN {int(rule['points'])} ELSE 0 END)")
    return " + ".join(terms) or "0"


def _joins(object_type: str, needed: set[str], scope: str) -> str:
    sql = []
    if "a" in needed:
        sql.append("LEFT JOIN records_account a ON a.id = r.account_id AND a.organization_id = %(org)s")
    if "st" in needed:
        sql.append("LEFT JOIN records_lifecyclestage st ON st.id = r.stage_id")
    if "tp" in needed:
        key = "lead_id" if object_type == LEAD else "account_id"
        narrow = {
            ALL: "",
            RECORD: f"AND t.{key} = %(record)s",
            ACCOUNT_LEADS: "AND t.lead_id IN (SELECT id FROM records_lead WHERE organization_id = %(org)s "
            "AND account_id = %(record)s)",
        }[scope]
        sql.append(
            f"""LEFT JOIN (
                SELECT t.{key} AS id,
                       count(*) FILTER (WHERE t.occurred_at >= %(since_30d)s) AS touches_30d,
                       count(*) AS touches_90d
                FROM records_touchpoint t
                WHERE t.organization_id = %(org)s AND t.occurred_at >= %(since_90d)s
                  AND t.occurred_at <= %(now)s AND t.{key} IS NOT NULL {narrow}
                GROUP BY t.{key}
            ) tp_raw ON tp_raw.id = r.id
            CROSS JOIN LATERAL (SELECT coalesce(tp_raw.touches_30d, 0) AS touches_30d,
                                       coalesce(tp_raw.touches_90d, 0) AS touches_90d) tp"""  # noqa: S608
        )
    return "\n".join(sql)


def _scored(segments, object_type: str, scope: str, params: _Params) -> str:
    """SELECT record_id, segment_id, score, threshold: every (record, segment) pair in scope."""
    table = TABLES[object_type][0]
    values = ", ".join(f"({int(s.pk)}, {score_sql(s.rules, object_type, params)})" for s in segments)
    where = {ALL: "TRUE", RECORD: "r.id = %(record)s", ACCOUNT_LEADS: "r.account_id = %(record)s"}[scope]
    if object_type == LEAD:
        where += " AND r.merged_into_id IS NULL"  # a merged-away lead belongs to no segment
    joins = _joins(object_type, joins_of([s.rules for s in segments], object_type), scope)
    return f"""
        SELECT r.id AS record_id, v.segment_id, v.score, g.threshold
        FROM {table} r
        {joins}
        CROSS JOIN LATERAL (VALUES {values}) AS v(segment_id, score)
        JOIN strategy_segment g ON g.id = v.segment_id AND g.organization_id = %(org)s
        WHERE r.organization_id = %(org)s AND {where}
    """  # noqa: S608 (identifiers and ids are ours; values are parameters)


def scores_statement(segments, object_type: str) -> tuple[str, dict]:
    """Every record's fit score for each segment, members or not: (record_id, segment_id, score)."""
    params = _Params()
    scored = _scored(segments, object_type, ALL, params)
    return f"SELECT record_id, segment_id, score FROM ({scored}) s", params.values  # noqa: S608


def membership_statement(segments, object_type: str, scope: str = ALL) -> tuple[str, dict]:
    """One statement that brings the memberships of `segments` up to date for `scope`.

    Run with `run_params` ("record" is the lead or account id for the RECORD
    scope, the account id for ACCOUNT_LEADS). It returns one row: (members
    inserted or re-scored, memberships deleted).
    """
    member_column = TABLES[object_type][1]
    params = _Params()
    scored = _scored(segments, object_type, scope, params)
    leaving = {
        ALL: f"m.{member_column} IS NOT NULL",
        RECORD: f"m.{member_column} = %(record)s",
        ACCOUNT_LEADS: "m.lead_id IN (SELECT id FROM records_lead WHERE organization_id = %(org)s "
        "AND account_id = %(record)s)",
    }[scope]
    other_column = "account_id" if object_type == LEAD else "lead_id"
    ids = ", ".join(str(int(s.pk)) for s in segments)
    sql = f"""
    WITH members AS (
        SELECT record_id, segment_id, score FROM ({scored}) s WHERE s.score >= s.threshold
    ),
    kept AS (
        INSERT INTO strategy_segmentmembership
            (organization_id, created_at, updated_at, segment_id, {member_column}, {other_column},
             score, since)
        SELECT %(org)s, %(now)s, %(now)s, segment_id, record_id, NULL, score, %(now)s FROM members
        ON CONFLICT (segment_id, {member_column}) WHERE {member_column} IS NOT NULL
        DO UPDATE SET score = EXCLUDED.score, updated_at = EXCLUDED.updated_at
        WHERE strategy_segmentmembership.score <> EXCLUDED.score
        RETURNING 1
    ),
    leavers AS (
        -- Memberships with no member row: grouped (hashed or sorted), then deleted by primary key
        -- from one array, so no plan can loop over one side per row of the other, however stale
        -- the statistics of the membership table are.
        SELECT max(u.id) AS id
        FROM (
            SELECT m.id, m.segment_id, m.{member_column} AS record_id FROM strategy_segmentmembership m
            WHERE m.organization_id = %(org)s AND m.segment_id IN ({ids}) AND {leaving}
            UNION ALL
            SELECT NULL::bigint, segment_id, record_id FROM members
        ) u
        GROUP BY u.segment_id, u.record_id
        HAVING count(u.id) = count(*)
    ),
    gone AS (
        DELETE FROM strategy_segmentmembership m  -- the ids are this organisation's (see leavers)
        WHERE m.id = ANY(ARRAY(SELECT id FROM leavers))
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM kept), (SELECT count(*) FROM gone)
    """  # noqa: S608 (identifiers and ids are ours; values are parameters)
    return sql, params.values


def run_params(org_id: int, now, record: int | None = None) -> dict:
    """The parameters every statement here takes, besides its own literals."""
    params = {"org": org_id, "now": now, "record": record}
    for name, days in BEHAVIOUR_DAYS.items():
        params[f"since_{name.removeprefix('touches_')}"] = now - timedelta(days=days)
    return params
