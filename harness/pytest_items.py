"""What the plugin's test items share (harness.pytest_plugin, pytest_sweep, pytest_explore): a failure of ours
is already one readable message, shown instead of a traceback, and an item is named FILE::PARENT::NAME."""
from __future__ import annotations

import pytest

from harness.errors import HarnessError


class ItemFailed(HarnessError):
    """An item's failure as the harness words it (a step, a sweep point, a schedule)."""


class NcItem(pytest.Item):
    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ItemFailed):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"{self.parent.name}::{self.name}"
