"""The KPI tree: nodes bound to a catalogue metric (or a series entered by hand), with targets per period.

A node's children drive it: their values add up to it (sum), multiply to it
(product, e.g. leads times conversion times deal size), or simply influence it
(driver). `status` is the last computed status, kept so a change can alert the
owner once and the tree can be listed without recomputing every node.
"""

import pghistory
from django.db import models

from apps.core.models import OrgOwned


class KpiCombine(models.TextChoices):
    SUM = "sum", "Children add up to it"
    PRODUCT = "product", "Children multiply to it"
    DRIVER = "driver", "Children drive it"


class KpiKind(models.TextChoices):
    LEADING = "leading", "Leading"
    LAGGING = "lagging", "Lagging"


class KpiGrain(models.TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"


class KpiDirection(models.TextChoices):
    HIGHER = "higher", "Higher is better"
    LOWER = "lower", "Lower is better"


class KpiStatus(models.TextChoices):
    ON_TRACK = "on_track", "On track"
    AT_RISK = "at_risk", "At risk"
    OFF_TRACK = "off_track", "Off track"
    NO_DATA = "no_data", "No data"


@pghistory.track()
class KpiNode(OrgOwned):
    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    # Deleting a node lifts its children to its own parent's level (the service re-parents them first).
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    position = models.PositiveIntegerField(default=0, help_text="Order among its siblings.")
    # A catalogue key (apps.measurement.metrics.catalogue); blank for a series entered by hand.
    metric = models.CharField(max_length=60, blank=True)
    # Extra metric parameters (e.g. {"channel": "Paid Social"}), validated by the metric engine.
    metric_params = models.JSONField(default=dict, blank=True)
    combine = models.CharField(max_length=10, choices=KpiCombine.choices, default=KpiCombine.DRIVER)
    kind = models.CharField(max_length=10, choices=KpiKind.choices, default=KpiKind.LAGGING)
    direction = models.CharField(max_length=10, choices=KpiDirection.choices, default=KpiDirection.HIGHER)
    grain = models.CharField(max_length=10, choices=KpiGrain.choices, default=KpiGrain.MONTH)
    owner = models.ForeignKey(
        "accounts.Membership", null=True, blank=True, on_delete=models.SET_NULL, related_name="kpi_nodes"
    )
    status = models.CharField(max_length=10, choices=KpiStatus.choices, default=KpiStatus.NO_DATA)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["organization", "parent", "position"], name="kpi_node_tree_idx")]

    def __str__(self):
        return self.name


class KpiTarget(OrgOwned):
    """The target of one node for one period (a month or a fiscal quarter, by the node's grain)."""

    node = models.ForeignKey(KpiNode, on_delete=models.CASCADE, related_name="targets")
    period_start = models.DateField()
    value = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        ordering = ["period_start"]
        constraints = [
            models.UniqueConstraint(fields=["node", "period_start"], name="kpi_target_unique_period")
        ]

    def __str__(self):
        return f"{self.node} {self.period_start}: {self.value}"


class KpiValue(OrgOwned):
    """One period's actual of a node without a metric (a series entered by hand or imported)."""

    node = models.ForeignKey(KpiNode, on_delete=models.CASCADE, related_name="values")
    period_start = models.DateField()
    value = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        ordering = ["period_start"]
        constraints = [
            models.UniqueConstraint(fields=["node", "period_start"], name="kpi_value_unique_period")
        ]

    def __str__(self):
        return f"{self.node} {self.period_start}: {self.value}"
