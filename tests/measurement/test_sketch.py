"""Duration sketches: quantiles within the promised relative error, merging by adding counts, and
the same buckets from Python's `bucket()` and PostgreSQL's `bucket_sql()`.

Values are seconds. The exact percentile is the lower nearest rank, as `quantile()` defines it:
the value of rank floor(q * (n - 1)) of the sorted durations.
"""

import math
from collections import Counter

import pytest
from django.db import connection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from apps.measurement import sketch

# The cache-clearing autouse fixture runs once per test, not per example; these examples need neither.
PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
QUANTILES = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1.0)
# Up to a year, the longest stay a daily rollup meets; sub-second values fall in bucket 0.
durations = st.floats(min_value=0, max_value=366 * 86_400, allow_nan=False, allow_infinity=False)


def sketch_of(values) -> dict[str, int]:
    """A sketch as the rollups store it: JSON keys are strings."""
    return {str(index): count for index, count in Counter(map(sketch.bucket, values)).items()}


def exact(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def test_relative_error_is_the_half_width_of_a_bucket():
    assert math.isclose(sketch.RELATIVE_ERROR, 0.02 / 2.02)
    assert sketch.RELATIVE_ERROR < 0.01


def test_buckets_of_hand_picked_durations():
    # Under a second is bucket 0 (read as 0 s); [1, 1.02] is bucket 1 (exactly one second must not read as
    # 0 s); 60 s lies in (1.02 ** 206, 1.02 ** 207].
    assert [sketch.bucket(v) for v in (0, 0.5, 0.999, 1, 1.01, 1.02, 1.03)] == [0, 0, 0, 1, 1, 1, 2]
    assert sketch.value(1) == pytest.approx(1.0099, abs=1e-4)
    assert 1.02**206 < 60 <= 1.02**207
    assert sketch.bucket(60) == 207
    assert sketch.value(0) == 0.0
    assert sketch.value(207) == pytest.approx(2 * 1.02**207 / 2.02)
    assert abs(sketch.value(207) - 60) / 60 <= sketch.RELATIVE_ERROR


def test_quantiles_of_a_small_hand_worked_sketch():
    # Ten durations: 1 minute four times, 1 hour five times, 1 day once.
    values = [60] * 4 + [3_600] * 5 + [86_400]
    merged = sketch.merge([sketch_of(values)])
    assert sum(merged.values()) == 10
    # Ranks floor(q * 9): p0 → rank 0 (1 min), p50 → rank 4 (1 h), p90 → rank 8 (1 h), p100 → rank 9 (1 day).
    assert sketch.quantile(merged, 0.0) == pytest.approx(60, rel=sketch.RELATIVE_ERROR)
    assert sketch.quantile(merged, 0.3) == pytest.approx(60, rel=sketch.RELATIVE_ERROR)  # rank 2
    assert sketch.quantile(merged, 0.5) == pytest.approx(3_600, rel=sketch.RELATIVE_ERROR)
    assert sketch.quantile(merged, 0.9) == pytest.approx(3_600, rel=sketch.RELATIVE_ERROR)
    assert sketch.quantile(merged, 1.0) == pytest.approx(86_400, rel=sketch.RELATIVE_ERROR)


def test_an_empty_sketch_has_no_quantile():
    assert sketch.quantile({}, 0.5) is None
    assert sketch.quantile(sketch.merge([{}, None]), 0.9) is None


@PROPERTY_SETTINGS
@given(st.lists(durations, min_size=1, max_size=400), st.sampled_from(QUANTILES))
@example([1.0], 0.5)  # once read as 0 s: bucket 0 took exactly one second
def test_quantiles_are_within_the_relative_error_of_the_exact_percentile(values, q):
    estimate = sketch.quantile(sketch.merge([sketch_of(values)]), q)
    truth = exact(values, q)
    if truth < 1:
        # Bucket 0 holds everything under a second and reads as 0.
        assert estimate == 0.0
    else:
        assert abs(estimate - truth) <= sketch.RELATIVE_ERROR * truth * (1 + 1e-12)


@PROPERTY_SETTINGS
@given(st.lists(st.lists(durations, max_size=60), min_size=1, max_size=8), st.sampled_from(QUANTILES))
def test_merged_day_sketches_answer_for_the_whole_period(days, q):
    """Ninety days of sketches merged give the quantile of all the durations within the error."""
    everything = [value for day in days for value in day]
    merged = sketch.merge(sketch_of(day) for day in days)
    assert merged == {int(k): n for k, n in sketch_of(everything).items()}
    if everything:
        truth = exact(everything, q)
        estimate = sketch.quantile(merged, q)
        assert abs(estimate - truth) <= max(1.0, sketch.RELATIVE_ERROR * truth * (1 + 1e-12))


@PROPERTY_SETTINGS
@given(st.lists(durations, max_size=50), st.lists(durations, max_size=50), st.lists(durations, max_size=50))
def test_merge_is_commutative_associative_and_additive(a, b, c):
    sa, sb, sc = sketch_of(a), sketch_of(b), sketch_of(c)
    assert sketch.merge([sa, sb]) == sketch.merge([sb, sa])
    # Merged sketches (int keys) merge again like stored ones (str keys).
    assert sketch.merge([sketch.merge([sa, sb]), sc]) == sketch.merge([sa, sketch.merge([sb, sc])])
    assert sketch.merge([sa, sb, sc]) == {int(k): n for k, n in sketch_of(a + b + c).items()}
    assert sum(sketch.merge([sa, sb, sc]).values()) == len(a) + len(b) + len(c)


# --- Python and PostgreSQL agree ------------------------------------------------------------------


def _sql_buckets(values, cast: str) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {sketch.bucket_sql('x')} "
            f"FROM unnest(%s::{cast}[]) WITH ORDINALITY AS t(x, n) ORDER BY n",
            [[str(v) for v in values]],
        )
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db
@pytest.mark.parametrize("cast", ["numeric", "float8"])
def test_bucket_sql_agrees_with_bucket_for_every_whole_second_up_to_two_days(cast):
    # The rollups feed bucket_sql() `extract(epoch FROM interval)`, a numeric with microseconds.
    values = list(range(0, 2 * 86_400 + 1))
    assert _sql_buckets(values, cast) == [sketch.bucket(v) for v in values]


@pytest.mark.django_db
def test_bucket_sql_agrees_with_bucket_at_bucket_edges_and_long_durations():
    edges = []
    for index in range(1, 1_200, 7):  # up to 1.02 ** 1200 s, far past any stay
        edge = round(sketch.GAMMA**index, 6)
        edges += [edge, round(edge - 1e-6, 6), round(edge + 1e-6, 6)]
    fractions = [0.000001, 0.5, 0.999999, 1.000001, 1.5, 59.999999, 3_600.25, 31_536_000.123456]
    values = [v for v in edges + fractions if v >= 0]
    assert _sql_buckets(values, "numeric") == [sketch.bucket(v) for v in values]


@pytest.mark.django_db
@PROPERTY_SETTINGS
@given(st.lists(st.decimals(min_value=0, max_value=10**9, places=6), min_size=1, max_size=50))
def test_bucket_sql_agrees_with_bucket_on_random_microsecond_durations(values):
    assert _sql_buckets(values, "numeric") == [sketch.bucket(float(v)) for v in values]
