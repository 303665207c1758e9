"""The bases every business model stands on.

Every row of business data belongs to one organisation. `OrgOwned` gives the
foreign key and a queryset whose `for_org()` is the one way views, selectors
and tasks read such rows; a bare `.objects.get(pk=...)` is a bug.
"""

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class OrgQuerySet(models.QuerySet):
    def for_org(self, org):
        return self.filter(organization=org)


class OrgOwned(TimeStampedModel):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+", db_index=True
    )

    objects = OrgQuerySet.as_manager()

    class Meta:
        abstract = True
