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


def test_the_image_example_runs_from_a_checkout(server, tmp_path, monkeypatch, capsys):
    """Every `$ nc-harness image ...` line of docs/images.md's first example, against the loopback S3 server,
    with the key pairs the repository ships: what it prints is what the page shows, ids aside."""
    from harness.cli.main import main
    page = open(os.path.join(ROOT, "docs", "images.md")).read()
    block = page[page.index("$ nc-harness image serve"):]
    block = block[:block.index("```")]
    monkeypatch.chdir(tmp_path)
    os.symlink(os.path.join(ROOT, "scenarios"), tmp_path / "scenarios")
    (tmp_path / "vmlinuz-demo").write_bytes(os.urandom(30000))
    monkeypatch.setenv("NC_S3_ENDPOINT", server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nc-harness")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "nc-harness-secret")
    lines = block.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("$ nc-harness image ") or " serve " in line:
            continue
        expected = []
        for out in lines[i + 1:]:
            if out.startswith("$ "):
                break
            expected.append(re.sub(r"e[kmr]i-[0-9A-F]{8}", "ID", out))
        assert main(line[2:].split()[1:]) == 0, (line, capsys.readouterr().err)
        printed = [re.sub(r"e[kmr]i-[0-9A-F]{8}", "ID", x) for x in capsys.readouterr().out.splitlines()]
        assert printed == expected, line
    assert (tmp_path / "out" / "vmlinuz-demo").read_bytes() == (tmp_path / "vmlinuz-demo").read_bytes()
