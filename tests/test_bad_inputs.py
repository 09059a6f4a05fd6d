"""The bad-input corpus (tests/bad_inputs/cases.tsv): every case through the real CLI entry point must give one
line on stderr, naming the file it read and containing the expected piece, exit non-zero but not with the
internal-error status, print no traceback, and change nothing: the case file, its directory and the
destination are as they were."""
import hashlib
import os
import shlex
import sys

import pytest
from conftest import ROOT

from harness.cli.main import main

BAD = os.path.join(ROOT, "tests", "bad_inputs")
sys.path.insert(0, BAD)
import generate  # noqa: E402


def _cases():
    rows = []
    with open(os.path.join(BAD, "cases.tsv"), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            case, args, expect = fields[:3]
            name = fields[3] if len(fields) > 3 else case
            rows.append(pytest.param(case, args, expect, id=name))
    return rows


def _tree_digest(path: str) -> str:
    h = hashlib.sha256()
    for root, dirs, files in sorted(os.walk(path)):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            full = os.path.join(root, name)
            h.update(full.encode())
            if os.path.islink(full):
                h.update(os.readlink(full).encode())
            elif os.path.isfile(full):
                with open(full, "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()


@pytest.fixture(scope="module", autouse=True)
def big_cases():
    generate.write_big_cases()


def test_the_corpus_has_at_least_200_cases():
    assert len(_cases()) >= 200


@pytest.mark.parametrize("case,args,expect", _cases())
def test_bad_input_gives_one_clear_line_and_changes_nothing(case, args, expect, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    dest = tmp_path / "dest"
    dest.mkdir()
    path = os.path.join(BAD, case)
    values = {"case": path, "dest": str(dest), "keys": os.path.join(ROOT, "scenarios", "keys"),
              "good": os.path.join(BAD, "good-bundle"), "bad": BAD}
    argv = [a.format(**values) for a in shlex.split(args)]
    before = _tree_digest(os.path.dirname(path)), _tree_digest(os.path.join(BAD, "good-bundle"))
    try:
        rc = main(argv)
    except SystemExit as exc:        # argparse's own usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc not in (0, None), f"accepted: {out}{err}"
    assert rc != 70, f"internal error: {err}"
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("usage:")
             and not line.startswith(" ")]
    assert len(lines) == 1, err
    assert expect.format(**values) in lines[0], lines[0]
    if "{case}" in args and not args.startswith(("image bundle", "sweep")):
        # the file read, or for a bundle the part that failed
        assert os.path.basename(path) in lines[0] or "bundle part '" in lines[0], lines[0]
    assert len(lines[0]) < 400, lines[0]
    assert os.listdir(dest) == []
    assert (_tree_digest(os.path.dirname(path)), _tree_digest(os.path.join(BAD, "good-bundle"))) == before
