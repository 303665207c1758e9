"""The one error type services raise.

A service refuses bad input with `ServiceError`, naming the field when there is
one. Views turn it into a form error or a flash message; the API turns it into
the shared JSON error shape. Nothing is written when it is raised inside the
service's transaction.
"""


class ServiceError(Exception):
    def __init__(self, message: str, *, code: str = "invalid", field: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field

    @property
    def fields(self) -> dict[str, list[str]]:
        return {self.field: [self.message]} if self.field else {}
