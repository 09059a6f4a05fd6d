"""MkDocs hook: the reference pages are generated from the code at build time, so they cannot drift from it.

- `reference/steps.md` from the scenario step registry (harness.scenario.registry: every kind, its fields,
  their types and docs);
- `reference/cli.md` from `nc-harness`'s argument parsers (every verb, flag and positional with its help).
"""
from __future__ import annotations

import os
import sys

from mkdocs.structure.files import File

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.docs import cli_reference, steps_reference


def on_files(files, config):
    for path, text in (("reference/steps.md", steps_reference()), ("reference/cli.md", cli_reference())):
        files.append(File.generated(config, path, content=text))
    return files
