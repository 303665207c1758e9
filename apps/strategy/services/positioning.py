"""Positioning per segment and the offers made to it: writes, the reads the pages and the API share, history.

Both are versioned. `version` counts the changes to what we say or offer: a
save that changes nothing is not a new version, and switching an offer on or
off is recorded in its history but keeps its version (the offer itself did not
change). The history of who changed what and when is read back from the
pghistory audit trail (`positioning_history`, `offer_history`), as goals do.

Lists (value propositions, messaging pillars, proof points) are lists of short
texts; a text with one item per line is accepted too, which is what the form
sends. Blank items are dropped.
"""

import datetime
from dataclasses import dataclass, field

from django.db import transaction

from apps.accounts.models import Membership
from apps.accounts.services import active_member
from apps.audit.selectors import audit_actor
from apps.core.errors import ServiceError
from apps.records.normalize import normalize_text
from apps.strategy.models import Offer, OfferType, Positioning, Segment

LISTS = ("value_propositions", "messaging_pillars", "proof_points")
LIST_LABELS = {
    "value_propositions": "Value propositions",
    "messaging_pillars": "Messaging pillars",
    "proof_points": "Proof points",
}
MAX_ITEMS = 20
MAX_ITEM_CHARS = 300
OFFER_FIELDS = ("name", "type", "description", "segment", "owner", "active")
# What an offer is; `active` is left out on purpose (see the module docstring).
OFFER_CONTENT = ("name", "type", "description", "segment", "owner")
MAX_DESCRIPTION = 2000


# --- Cleaning ------------------------------------------------------------------------------------


def _text_list(value, *, field_name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.splitlines()
    if not isinstance(value, (list, tuple)):
        raise ServiceError("Give a list of texts, or one item per line.", field=field_name)
    items = []
    for position, item in enumerate(value, start=1):
        if not isinstance(item, str):
            raise ServiceError(f"Item {position} is not text.", field=field_name)
        text = normalize_text(item)
        if len(text) > MAX_ITEM_CHARS:
            raise ServiceError(
                f"Item {position} has {len(text)} characters; keep each to {MAX_ITEM_CHARS}.",
                field=field_name,
            )
        if text:
            items.append(text)
    if len(items) > MAX_ITEMS:
        raise ServiceError(f"At most {MAX_ITEMS} items ({len(items)} given).", field=field_name)
    return items


def member_of(org, value, *, field_name: str = "owner", required: bool = False) -> Membership | None:
    """An active member of `org` named by instance or id; None when blank and not required."""
    return active_member(
        org, value, field=field_name, required="Name the member who owns this." if required else ""
    )


def segment_of(org, value, *, field_name: str = "segment", required: bool = False) -> Segment | None:
    pk = value.pk if isinstance(value, Segment) else value
    if pk in (None, ""):
        if required:
            raise ServiceError("Name the segment.", field=field_name)
        return None
    found = Segment.objects.for_org(org).filter(pk=pk).first() if str(pk).isdigit() else None
    if found is None:
        raise ServiceError("No segment of this organisation has this id.", field=field_name)
    return found


def _unknown(values: dict, allowed) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise ServiceError("Unknown field.", field=unknown[0])


# --- Positioning ---------------------------------------------------------------------------------


@transaction.atomic
def positioning_save(*, org, segment, **fields) -> Positioning:
    """Create the segment's positioning or change it; only the fields given change.

    A save that changes something bumps `version`; one that changes nothing
    writes nothing.
    """
    _unknown(fields, (*LISTS, "owner"))
    segment = segment_of(org, segment, required=True)
    positioning = Positioning.objects.select_for_update().filter(organization=org, segment=segment).first()
    cleaned = {name: _text_list(fields[name], field_name=name) for name in LISTS if name in fields}
    if "owner" in fields:
        cleaned["owner"] = member_of(org, fields["owner"])
    if positioning is None:
        return Positioning.objects.create(organization=org, segment=segment, **cleaned)
    changed = [name for name, value in cleaned.items() if getattr(positioning, name) != value]
    if not changed:
        return positioning
    for name in changed:
        setattr(positioning, name, cleaned[name])
    positioning.version += 1
    positioning.save()
    return positioning


@transaction.atomic
def positioning_delete(*, org, positioning: Positioning) -> None:
    if positioning.organization_id != org.pk:
        raise ServiceError("No such positioning in this organisation.", code="not_found")
    positioning.delete()


def segments_with_positioning(*, org):
    """Every segment with its positioning (or None) and its offers, active first."""
    segments = list(Segment.objects.for_org(org).order_by("-is_icp", "name", "id"))
    positionings = {p.segment_id: p for p in Positioning.objects.for_org(org).select_related("owner__user")}
    offers: dict[int, list[Offer]] = {}
    for offer in Offer.objects.for_org(org).filter(segment__isnull=False).select_related("owner__user"):
        offers.setdefault(offer.segment_id, []).append(offer)
    return [(segment, positionings.get(segment.pk), offers.get(segment.pk, [])) for segment in segments]


# --- Offers --------------------------------------------------------------------------------------


def _offer_type(value) -> str:
    text = normalize_text(value)
    if text not in OfferType.values:
        raise ServiceError(
            f"“{text}” is not an offer type; use one of: {', '.join(OfferType.values)}.", field="type"
        )
    return text


def _offer_name(value) -> str:
    text = normalize_text(value)
    if not text:
        raise ServiceError("Give the offer a name.", field="name")
    if len(text) > 120:
        raise ServiceError(f"At most 120 characters ({len(text)} given).", field="name")
    return text


def _description(value) -> str:
    text = (value or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise ServiceError(f"At most {MAX_DESCRIPTION} characters ({len(text)} given).", field="description")
    return text


def _active(value) -> bool:
    if not isinstance(value, bool):
        raise ServiceError("Give true or false.", field="active")
    return value


def _clean_offer(org, values: dict) -> dict:
    cleaners = {
        "name": _offer_name,
        "type": _offer_type,
        "description": _description,
        "segment": lambda v: segment_of(org, v),
        "owner": lambda v: member_of(org, v),
        "active": _active,
    }
    return {name: cleaners[name](value) for name, value in values.items()}


@transaction.atomic
def offer_create(*, org, **fields) -> Offer:
    _unknown(fields, OFFER_FIELDS)
    for name in ("name", "type"):
        if name not in fields:
            raise ServiceError("This field is required.", field=name)
    return Offer.objects.create(organization=org, **_clean_offer(org, fields))


@transaction.atomic
def offer_update(*, org, offer: Offer, **fields) -> Offer:
    """Change some fields; a change to what the offer is bumps its version."""
    if offer.organization_id != org.pk:
        raise ServiceError("No such offer in this organisation.", code="not_found")
    _unknown(fields, OFFER_FIELDS)
    cleaned = _clean_offer(org, fields)
    locked = Offer.objects.select_for_update().get(pk=offer.pk, organization=org)
    changed = [name for name, value in cleaned.items() if getattr(locked, name) != value]
    if not changed:
        return offer
    for name in changed:
        setattr(offer, name, cleaned[name])
    offer.version = locked.version + (1 if set(changed) & set(OFFER_CONTENT) else 0)
    offer.save()
    return offer


def offer_deactivate(*, org, offer: Offer) -> Offer:
    """Stop making the offer; programs that name it keep the link."""
    return offer_update(org=org, offer=offer, active=False)


def offer_activate(*, org, offer: Offer) -> Offer:
    return offer_update(org=org, offer=offer, active=True)


@transaction.atomic
def offer_delete(*, org, offer: Offer) -> None:
    if offer.organization_id != org.pk:
        raise ServiceError("No such offer in this organisation.", code="not_found")
    offer.delete()


def offers_filtered(*, org, type: str = "", segment=None, active: bool | None = None):
    offers = Offer.objects.for_org(org).select_related("segment", "owner__user")
    if type:
        offers = offers.filter(type=type)
    if segment is not None:
        offers = offers.filter(segment=segment)
    if active is not None:
        offers = offers.filter(active=active)
    return offers.order_by("-active", "name", "id")


# --- History -------------------------------------------------------------------------------------


@dataclass
class Version:
    at: datetime.datetime
    who: str
    version: int
    label: str  # "insert" or "update"
    changes: list[tuple[str, object, object]] = field(default_factory=list)  # (field, before, after)


def _history(model, obj, org, fields: tuple[str, ...]) -> list[Version]:
    """The object's versions, newest first: each audit-trail event with the fields it changed."""
    events = (
        model.pgh_event_model.objects.filter(pgh_obj_id=obj.pk, organization_id=org.pk)
        .exclude(pgh_label="delete")
        .select_related("pgh_context")
        .order_by("pgh_created_at", "pgh_id")
    )
    versions, previous = [], None
    for event in events:
        values = {name: getattr(event, name) for name in fields}
        if previous is None:
            changes = [(name, None, value) for name, value in values.items() if value not in (None, "", [])]
        else:
            changes = [
                (name, previous[name], value) for name, value in values.items() if previous[name] != value
            ]
        if previous is None or changes:
            context = event.pgh_context.metadata if event.pgh_context else None
            versions.append(
                Version(event.pgh_created_at, audit_actor(context), event.version, event.pgh_label, changes)
            )
        previous = values
    versions.reverse()
    return versions


FIELD_LABELS = {
    **LIST_LABELS,
    "owner_id": "Owner",
    "segment_id": "Segment",
    "name": "Name",
    "type": "Type",
    "description": "Description",
    "active": "Active",
}


def _named(org, versions: list[Version]) -> list[Version]:
    """What the history page shows: field labels, names instead of ids, lists joined, None for empty."""
    members = {m.pk: m.user.display_name for m in Membership.objects.for_org(org).select_related("user")}
    segments = dict(Segment.objects.for_org(org).values_list("pk", "name"))
    names = {"owner_id": members, "segment_id": segments}

    def shown(name, value):
        if value is None or value == "" or value == []:
            return None
        if isinstance(value, list):
            return "; ".join(value)
        if isinstance(value, bool):
            return "yes" if value else "no"
        if name in names:
            return names[name].get(value, f"#{value} (deleted)")
        return value

    for version in versions:
        version.changes = [
            (FIELD_LABELS[name], shown(name, before), shown(name, after))
            for name, before, after in version.changes
        ]
    return versions


def positioning_history(*, org, positioning: Positioning) -> list[Version]:
    return _named(org, _history(Positioning, positioning, org, (*LISTS, "owner_id")))


def offer_history(*, org, offer: Offer) -> list[Version]:
    fields = ("name", "type", "description", "segment_id", "owner_id", "active")
    return _named(org, _history(Offer, offer, org, fields))
