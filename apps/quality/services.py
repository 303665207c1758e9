"""Duplicates, merges and undo (being built)."""


def lead_merge(*, org, survivor, merged, field_choices=None, actor=None):
    raise NotImplementedError("Lead merge is not available yet.")
