"""The engine's exceptions: one root, `EngineError`, with every specific error of the engine under it."""
from __future__ import annotations


class EngineError(Exception):
    """Root of every error the engine raises."""


class OperationFailed(EngineError):
    """A RunInstance or TerminateInstance the controller refused or could not complete (after its rollback)."""


class RecoveredWithProblems(OperationFailed):
    """A restart that recovered the node and serves, but left something for the operator (a domain that would
    not stop, its instance listed in teardown)."""


class CommandError(EngineError):
    """A command on the node exited non-zero where the engine needed it to work."""

    def __init__(self, rendered: str, rc: int, stderr: str):
        detail = stderr.strip().splitlines()[-1] if stderr.strip() else "no error output"
        super().__init__(f"'{rendered}' failed (rc={rc}): {detail}")
        self.rendered, self.rc, self.stderr = rendered, rc, stderr

    def __reduce__(self):   # its own arguments, not the message: a sweep's worker process sends it back
        return (CommandError, (self.rendered, self.rc, self.stderr))
