"""Scenarios: the YAML format (loader), the loaded model, the registry of step kinds (one module each under
`steps/`), and the runner that plays them on a backend."""
from harness.scenario.loader import load, parse
from harness.scenario.model import Scenario, Step
from harness.scenario.registry import ScenarioError, StepFailure

__all__ = ["Scenario", "ScenarioError", "Step", "StepFailure", "load", "parse"]
