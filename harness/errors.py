"""The harness layer's root exception: every error the harness raises on bad input or a failed check is one,
so the CLI turns each into one line and an exit status, and anything else is a bug (an `internal error`)."""


class HarnessError(Exception):
    pass
