"""The demo ICP and segments: the keys other demo modules look up, members from the demo's values, once."""

import pytest

from apps.records import services as records
from apps.strategy.demo import seed_segments
from apps.strategy.models import Segment, SegmentMembership

pytestmark = pytest.mark.django_db


def test_the_demo_seeds_the_icp_and_three_segments_once(org):
    big = records.account_create(org=org, name="Big", domain="big.test", industry="Software", employees=1500,
                                 country="DE", region="EMEA")  # fmt: skip
    mid = records.account_create(org=org, name="Mid", domain="mid.test", industry="Retail & e-commerce",
                                 employees=300, country="US", region="North America")  # fmt: skip
    ada = records.lead_create(org=org, email="ada@big.test", country="DE")  # ICP: 30 + 30 + 20 = 80
    bo = records.lead_create(org=org, email="bo@mid.test", country="US")  # 30 + 20 = 50: not the ICP
    cy = records.lead_create(org=org, email="cy@gmail.test", country="FR")  # no account: 0 - 30, EMEA
    assert (ada.account, bo.account, cy.account) == (big, mid, None)

    assert seed_segments(org) is not None
    segments = {s.key: s for s in Segment.objects.for_org(org)}
    assert set(segments) == {"icp", "enterprise", "mid-market", "emea"}
    assert [s.key for s in Segment.objects.for_org(org) if s.is_icp] == ["icp"]

    def members(key):
        return set(SegmentMembership.objects.filter(segment=segments[key]).values_list("lead_id", "score"))

    assert members("icp") == {(ada.pk, 80)}
    assert members("enterprise") == {(ada.pk, 1)}
    assert members("mid-market") == {(bo.pk, 1)}
    assert members("emea") == {(ada.pk, 2), (cy.pk, 1)}
    assert seed_segments(org) is None
