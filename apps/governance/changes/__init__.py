"""The subjects a change request can change, one module each, and the guard on their direct edits.

Each subject module offers the same four functions over a plain JSON document (the subject's
"export"): `export(org, target)`, `validate(org, target, proposed)`, `apply(org, target, proposed,
by)` and `diff(before, after)`; `registry.ADAPTERS` maps a subject to its module. This package's
`__init__` imports nothing, so the services it guards can import `guard` without a cycle.
"""
