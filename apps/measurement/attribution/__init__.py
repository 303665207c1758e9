"""Attribution: the rule-based models (`engine`), their plain specification (`reference`), the
data-driven Markov model (`markov`) and the lift of holdout tests (`incrementality`).

Pure Python, numpy and pandas: no database and no Django, so the maths can be tested and benchmarked
on its own. The database side selects each opportunity's touches (within the lookback window), hands them
over as flat arrays and stores the credits it gets back.
"""
