"""The growth diagnostic: is the organisation strong on strategy, on execution, both or neither?

Scored from its own data, every point backed by evidence and a link to the page
that fixes it. `components` is the table of what is scored; one module per
pillar measures it (people, process, technology, data, strategy); `scoring`
adds the points up and places the organisation on the two-by-two; `symptoms`
finds the signs of a gap between strategy and execution and the alignment
checks; `recommendations` ranks the fixes by expected revenue; `snapshot`
computes, stores and trends the result; `tasks` recomputes it nightly.
"""
