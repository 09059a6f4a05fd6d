"""The docs: a short README, generated reference pages that cover every step kind and every verb, and no
reference to files outside the repository."""
from __future__ import annotations

import os
import re
import subprocess

from conftest import ROOT

from harness.docs import cli_reference, steps_reference


def test_readme_is_short():
    assert len(open(os.path.join(ROOT, "README.md")).read().splitlines()) <= 200


def test_the_step_reference_names_every_kind_and_field():
    from harness.scenario.steps import KINDS
    page = steps_reference()
    for name, kind in KINDS.items():
        assert f"## `{name}`" in page
        for f in kind.fields:
            assert f"| `{f.name}` |" in page


def test_the_cli_reference_names_every_verb():
    from harness.cli.main import build_parser
    page = cli_reference()
    verbs = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction").choices
    for verb in verbs:
        assert f"## `nc-harness {verb}`" in page


def test_the_repository_stands_alone():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    outside = re.compile(r"shared/reference|field-bugs\.md|\.\./shared")
    hits = []
    for name in files:
        if name.endswith((".md", ".py", ".yaml", ".yml", ".toml")) or name == ".ci/run":
            try:
                text = open(os.path.join(ROOT, name), encoding="utf-8").read()
            except (UnicodeDecodeError, FileNotFoundError):
                continue
            hits += [f"{name}: {m.group(0)}" for m in outside.finditer(text) if name != "tests/test_docs.py"]
    assert hits == []
