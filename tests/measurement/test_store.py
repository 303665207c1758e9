"""The fact reader's frames: a row for every period (and group), groups sorted with blanks last, rows
falling on one period summed; and the ratios metrics divide them with. Every metric is computed from
these."""

import datetime
import itertools
import math

import numpy as np
import pandas as pd
import pytest

from apps.measurement import store
from apps.measurement.metrics.catalogue import _ratio

# Weeks from a Wednesday: the first period is clipped to Mar 4, then the Mondays Mar 9 and Mar 16.
WINDOW = store.Window(datetime.date(2026, 3, 4), datetime.date(2026, 3, 20), "week")
PERIODS = [datetime.date(2026, 3, 4), datetime.date(2026, 3, 9), datetime.date(2026, 3, 16)]


def test_grouped_frame_has_every_period_and_group_with_blanks_last():
    rows = [
        {"period": datetime.date(2026, 3, 2), "group": "Events", "n": 2},  # its week starts before Mar 4
        {"period": datetime.date(2026, 3, 4), "group": "Events", "n": 1},  # the same period: summed
        {"period": datetime.date(2026, 3, 16), "group": None, "n": 5},
        {"period": datetime.date(2026, 3, 9), "group": "Ads", "n": 3},
    ]
    frame = store._frame(WINDOW, rows, ["n"], "channel")

    keys = list(itertools.product(PERIODS, ["Ads", "Events", None]))
    assert frame.index.equals(pd.MultiIndex.from_tuples(keys, names=["period", "group"]))
    assert frame["n"].tolist() == [0, 3, 0, 3, 0, 0, 0, 0, 5]
    assert math.isnan(frame.index.get_level_values("group")[2])  # a blank group reads as missing
    assert frame.loc[(PERIODS[2], "Ads"), "n"] == 0


def test_owner_groups_sort_as_numbers():
    rows = [
        {"period": datetime.date(2026, 3, 9), "group": 12, "n": 1, "m": 2},
        {"period": datetime.date(2026, 3, 9), "group": 3, "n": 4, "m": None},
    ]
    frame = store._frame(WINDOW, rows, ["n", "m"], "owner")
    assert list(frame.loc[PERIODS[1]].index) == [3, 12]
    assert frame.loc[(PERIODS[1], 3)].tolist() == [4, 0]
    assert frame.loc[(PERIODS[1], 12)].tolist() == [1, 2]
    assert frame.loc[PERIODS[0]].sum().tolist() == [0, 0]


def test_nothing_to_group_gives_an_empty_frame():
    frame = store._frame(WINDOW, [], ["n"], "campaign")
    assert frame.empty
    assert frame.index.names == ["period", "group"]


def test_ungrouped_frame_has_one_row_a_period():
    rows = [{"period": datetime.date(2026, 3, 16), "n": 2}, {"period": datetime.date(2026, 3, 17), "n": 1}]
    frame = store._frame(WINDOW, rows, ["n"], None)
    assert list(frame.index) == PERIODS
    assert frame["n"].tolist() == [0, 0, 3]
    whole = store._frame(store.Window(WINDOW.start, WINDOW.end, None), rows, ["n"], None)
    assert list(whole.index) == [WINDOW.start]
    assert whole["n"].tolist() == [3]


def test_a_ratio_is_missing_where_nothing_divides():
    index = pd.Index(PERIODS, name="period")
    reached = pd.Series([1.0, 0.0, 3.0], index=index)
    entered = pd.Series([4.0, 0.0, 0.0], index=index)
    result = _ratio(reached, entered, 100)
    assert result.index.equals(index)
    assert result.iloc[0] == 25
    assert math.isnan(result.iloc[1]) and math.isnan(result.iloc[2])  # 0 / 0 and 3 / 0
    scaled = _ratio(reached, pd.Series([2.0, 1.0, 1.0], index=index), np.array([1.0, 2.0, 3.0]))
    assert scaled.tolist() == [0.5, 0.0, 9.0]


def test_a_ratio_of_groups_counts_a_missing_group_as_zero():
    reached = pd.Series([2.0], index=pd.Index(["Ads"], name="group"))
    entered = pd.Series([4.0, 5.0], index=pd.Index(["Ads", "Events"], name="group"))
    result = _ratio(reached, entered)
    assert result.to_dict() == {"Ads": 0.5, "Events": 0.0}
    with pytest.raises(ValueError):
        _ratio(reached, entered, np.array([1.0, 2.0]))
