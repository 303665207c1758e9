"""The data-driven model's fit for one organisation: transitions counted in SQL, kept in the cache.

The chain is fitted on the journeys of the organisation's leads that have touches: a lead's touches in
time order, converted when the lead is the primary contact of an opportunity, in which case only the
touches before its first opportunity's creation (the end of that created day, the same moment as the
opportunity-creation milestone) count. `MARKOV_SQL` counts the chain's transitions in one window pass
over the touchpoints, so no touch travels to Python; `markov.removal_effects_from_transitions` solves it.

The fit (each channel's share, the journeys and conversions it rests on, its warning) is kept in the
cache under `markov_cache_key(org)`, where the workbench and the API read the warning, with no expiry:
full rebuilds refit, partial ones reuse a fit up to `MARKOV_REFIT_AFTER` old.
"""

import datetime
from dataclasses import dataclass

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from . import markov

MARKOV_REFIT_AFTER = datetime.timedelta(days=7)
NOT_FITTED = "Not fitted yet: the next rollup fits the chain; until then every channel counts alike."

MARKOV_SQL = """
WITH conv AS (
    SELECT primary_contact_id AS lead_id,
           (min(created_date) + 1)::timestamp AT TIME ZONE %(tz)s AS converted_at
    FROM records_opportunity
    WHERE organization_id = %(org)s AND primary_contact_id IS NOT NULL
    GROUP BY primary_contact_id
),
j AS (
    SELECT t.lead_id, t.channel, c.lead_id IS NOT NULL AS converted,
           lag(t.channel) OVER w AS previous, lead(t.id) OVER w IS NULL AS last
    FROM records_touchpoint t LEFT JOIN conv c ON c.lead_id = t.lead_id
    WHERE t.organization_id = %(org)s AND t.lead_id IS NOT NULL AND t.occurred_at < %(now)s
      AND (c.converted_at IS NULL OR t.occurred_at < c.converted_at)
    WINDOW w AS (PARTITION BY t.lead_id ORDER BY t.occurred_at, t.id)
)
SELECT 'step', previous, channel, converted, last, count(*) FROM j
GROUP BY previous, channel, converted, last
UNION ALL
SELECT 'seen', NULL, channel, TRUE, FALSE, count(DISTINCT lead_id) FROM j WHERE converted GROUP BY channel
"""


@dataclass(frozen=True)
class MarkovFit:
    """What the page and the API show of the data-driven model, and the shares credits come from."""

    shares: dict[str, float]
    warning: str | None
    journeys: float
    conversions: float
    fitted_at: datetime.datetime

    def as_cache(self) -> dict:
        return {
            "shares": self.shares,
            "warning": self.warning,
            "journeys": self.journeys,
            "conversions": self.conversions,
            "fitted_at": self.fitted_at.isoformat(),
        }

    @classmethod
    def from_cache(cls, value: dict) -> "MarkovFit":
        return cls(
            shares=value["shares"],
            warning=value["warning"],
            journeys=value["journeys"],
            conversions=value["conversions"],
            fitted_at=datetime.datetime.fromisoformat(value["fitted_at"]),
        )


def markov_cache_key(org) -> str:
    return f"attribution:markov:{org.pk}"


def markov_fit(org) -> MarkovFit | None:
    """The last fit of this organisation's chain, None before the first rebuild."""
    value = cache.get(markov_cache_key(org))
    return MarkovFit.from_cache(value) if value else None


def fit_markov(org, *, now: datetime.datetime | None = None) -> MarkovFit:
    """Count the chain's transitions in SQL, solve it, and keep the fit in the cache."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(MARKOV_SQL, {"org": org.pk, "tz": org.time_zone, "now": now})
        rows = cursor.fetchall()
    labels = sorted({row[2] for row in rows})
    state = {label: k + 1 for k, label in enumerate(labels)}
    n = len(labels)
    start, conversion, null = 0, n + 1, n + 2
    transitions = np.zeros((n + 3, n + 3))
    seen = np.zeros(n)
    journeys = conversions = 0.0
    for kind, previous, channel, converted, last, count in rows:  # one row per kind of step, not per touch
        if kind == "seen":
            seen[state[channel] - 1] = count
            continue
        transitions[start if previous is None else state[previous], state[channel]] += count
        if last:
            transitions[state[channel], conversion if converted else null] += count
            journeys += count
            conversions += count if converted else 0
    result = markov.removal_effects_from_transitions(
        transitions, labels=labels, journeys=journeys, conversions=conversions, channel_conversions=seen
    )
    fit = MarkovFit(
        shares=dict(result.share),
        warning=result.warning,
        journeys=journeys,
        conversions=conversions,
        fitted_at=now,
    )
    cache.set(markov_cache_key(org), fit.as_cache(), timeout=None)
    return fit


def current_fit(org, *, refit: bool) -> MarkovFit:
    fit = None if refit else markov_fit(org)
    if fit is None or timezone.now() - fit.fitted_at > MARKOV_REFIT_AFTER:
        fit = fit_markov(org)
    return fit
