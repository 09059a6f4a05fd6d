"""One module per scenario step kind; importing this package registers every kind in the registry
(`harness.scenario.registry.KINDS`). A new kind is a new module here: nothing else to edit."""
from __future__ import annotations

import importlib
import pkgutil

from harness.scenario.registry import KINDS

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["KINDS"]
