def add_service_error(form, exc, *, aliases: dict[str, str] | None = None) -> None:
    """Show a ServiceError next to the field it names, or above the form when the form has no such field."""
    field = (aliases or {}).get(exc.field, exc.field)
    form.add_error(field if field in form.fields else None, exc.message)
