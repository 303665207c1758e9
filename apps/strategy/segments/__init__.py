"""Segments: which fields rules may read, a pure Python scorer and a SQL compiler that agree.

A segment's rules are [{"name", "conditions": [...], "points"}], the conditions
in the language of apps.records.conditions. A record's fit score is the sum of
the points of the rules whose conditions all hold; it is a member when the
score reaches the segment's threshold. `scoring` computes that in Python (for
one record, and as the reference); `sql` compiles the same rules into one
set-based statement that writes the memberships. tests/strategy checks that
both give the same answer.
"""
