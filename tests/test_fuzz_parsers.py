"""Hypothesis over every parser of outside input: whatever the text, a parser returns or raises its own one-line
error type; anything else (a KeyError, a RecursionError, a TypeError) would reach the user as a traceback."""
import copy
import os
import sys

import pytest
import yaml
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.images import manifest as manifest_mod
from engine.vbr import VbrError, parse_ascii, validate
from harness.checks import state
from harness.cli.main import UsageError, build_parser
from harness.replay.trace import TraceError, parse_trace, parse_transcript
from harness.scenario import ScenarioError, parse
from simulator.shell import ShellSyntaxError, tokenize

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
sys.path.insert(0, os.path.join(ROOT, "tests", "bad_inputs"))
import generate  # noqa: E402

GOOD = yaml.safe_load(generate.GOOD_SCENARIO)
with open(os.path.join(ROOT, "tests", "bad_inputs", "good-bundle", "small.manifest.xml")) as _fh:
    GOOD_MANIFEST = _fh.read()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12)
shellish = st.text(alphabet=st.sampled_from(list("ab -/|&;<>()'\"\\$`*?[]#=\n\t0123456789:.")), max_size=80)


@FUZZ
@given(st.text(max_size=400))
def test_scenario_text(text):
    try:
        parse(text, "fuzz.yaml")
    except ScenarioError as exc:
        assert "\n" not in str(exc).strip() or "YAML" in str(exc)


def _paths(doc, prefix=()):
    """Every place in the good scenario a value sits."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(GOOD) if p]


@FUZZ
@given(st.sampled_from(PATHS), json_values)
def test_scenario_with_any_value_anywhere(path, value):
    doc = copy.deepcopy(GOOD)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        parse(yaml.safe_dump(doc), "fuzz.yaml")
    except ScenarioError:
        pass


@FUZZ
@given(st.text(max_size=200) | st.lists(st.text(alphabet="abcdefkmnrsw-:0123456789/.none", max_size=12),
                                        min_size=1, max_size=7).map(":".join))
def test_vbr_strings(text):
    try:
        validate(parse_ascii(text))
    except VbrError:
        pass


@FUZZ
@given(shellish)
def test_trace_text(text):
    for parser in (parse_trace, parse_transcript):
        try:
            parser(text, "fuzz.log")
        except TraceError as exc:
            assert str(exc).startswith("fuzz.log")


@FUZZ
@given(shellish)
def test_shell_tokenizer(text):
    try:
        tokenize(text)
    except ShellSyntaxError:
        pass


@FUZZ
@given(st.text(max_size=300))
def test_manifest_text(text):
    try:
        manifest_mod.parse(text, "fuzz.manifest.xml")
    except manifest_mod.ManifestError:
        pass


@FUZZ
@given(st.integers(0, len(GOOD_MANIFEST) - 1), st.integers(1, 40), st.text(max_size=20))
def test_manifest_spliced(at, cut, insert):
    text = GOOD_MANIFEST[:at] + insert + GOOD_MANIFEST[at + cut:]
    try:
        manifest_mod.parse(text, "fuzz.manifest.xml")
    except manifest_mod.ManifestError:
        pass


@FUZZ
@given(st.text(alphabet=st.sampled_from(list("/devlop0123456789: []()*\t\nabc-.")), max_size=200))
def test_tool_output_parsers(text):
    for fn in (state.parse_losetup, state.parse_dmsetup_table, state.parse_dmsetup_ls, state.parse_dmsetup_tree):
        try:
            fn(text)
        except state.StateError:
            pass


@FUZZ
@given(st.lists(st.sampled_from(["run", "replay", "sweep", "--faults", "--crashes", "--points", "--jobs", "-j",
                                 "--times", "--backend", "--seed", "--dialect", "x", "0", "-1", "3,x", "--", "-v",
                                 "image", "bundle", "unbundle", "-m", "-d", "report", "--html", "diff", "list"])
                | st.text(max_size=8), max_size=6))
def test_cli_argument_parsing(argv):
    parser = build_parser()
    try:
        parser.parse_args(argv)
    except (UsageError, SystemExit):
        pass


@pytest.mark.parametrize("depth", [50, 900, 5000])
def test_deep_nesting_is_a_scenario_error(depth):
    with pytest.raises(ScenarioError):
        parse("name: " + "[" * depth + "]" * depth + "\nsteps: []\n", "deep.yaml")
