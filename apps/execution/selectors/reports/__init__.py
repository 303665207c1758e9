"""Reads behind the speed, SLA, rejection and fairness reports.

Each report is a handful of queries over one period (a lead counts in the
period it was captured, an offer in the period it was made, a timer in the
period it started), turned into plain rows and handed to the pure functions
in `apps.execution.metrics`. The result is a set of `Table`s: the page renders
them and `?format=csv&table=<key>` streams the same rows, so the page and the
export cannot disagree.
"""

from .common import Filters, Names, Report, names_for
from .fairness import fairness_report
from .rejections import rejections_report
from .sla import sla_report
from .speed import speed_report

# What `apps.execution.views.reports` reads through this package.
__all__ = ["REPORTS", "Filters", "Names", "Report", "names_for"]

REPORTS = {
    "speed": speed_report,
    "sla": sla_report,
    "rejections": rejections_report,
    "fairness": fairness_report,
}
