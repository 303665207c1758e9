"""Hand-made leads for the data-quality tests, built through the real services."""

import pytest

from apps.records import services as records


@pytest.fixture
def make_lead(org):
    def make(target=None, **fields):
        return records.lead_create(org=target or org, **fields)

    return make
