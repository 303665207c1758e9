"""The period and filters a report reads, and the tables it hands back.

Shared by every report: `Filters` fixes the period and the team/rep/source filter,
`Names` turns ids into people and teams, and `Report` / `Table` / `Column` are what
the page renders and `?format=csv&table=<key>` streams.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from apps.accounts.models import Membership, Team
from apps.execution import metrics


@dataclass(frozen=True)
class Filters:
    start: date
    end: date  # included
    tz: ZoneInfo
    team: int | None = None
    rep: int | None = None
    source: str | None = None

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        return metrics.period_bounds(self.start, self.end, self.tz)

    def keep(self, row) -> bool:
        return metrics.keep(row, team=self.team, rep=self.rep, source=self.source)


@dataclass(frozen=True)
class Names:
    """Who and which team an id is, including former members (their history still counts)."""

    people: dict[int, str]
    teams: dict[int, str]

    def person(self, membership_id: int) -> str:
        return self.people.get(membership_id, f"Member #{membership_id}")

    def team(self, team_id: int | None) -> str:
        return metrics.NO_TEAM if team_id is None else self.teams.get(team_id, f"Team #{team_id}")


def names_for(*, org) -> Names:
    members = Membership.objects.for_org(org).select_related("user")
    return Names(
        people={m.pk: m.user.display_name for m in members},
        teams=dict(Team.objects.for_org(org).values_list("pk", "name")),
    )


@dataclass(frozen=True)
class Column:
    label: str
    numeric: bool = True


@dataclass
class Table:
    """Rows of finished cells (text, int, a rounded float or None for "not measured")."""

    key: str
    title: str
    columns: list[Column]
    rows: list[list]
    empty: str  # what to do about it when there are no rows
    note: str = ""

    @property
    def cells(self) -> list[list[tuple]]:
        """Each row as (value, numeric) pairs, for templates that right-align numbers."""
        return [
            [(value, column.numeric) for value, column in zip(row, self.columns, strict=True)]
            for row in self.rows
        ]


@dataclass
class Report:
    tables: dict[str, Table]
    charts: dict[str, str | None] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)  # for the source filter: every source in the period
    facts: dict = field(default_factory=dict)  # headline numbers for the page


def _label(text: str) -> Column:
    return Column(text, numeric=False)
