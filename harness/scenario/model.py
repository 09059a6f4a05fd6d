"""A loaded scenario: its node, images and steps, checked and ready to run."""
from __future__ import annotations

from dataclasses import dataclass, field

from harness.images.staging import ImageSpec
from harness.scenario.registry import KINDS
from harness.scenario.requirements import unmet


@dataclass
class Step:
    kind: str
    args: dict
    index: int
    node: str = ""      # the node it acts on, by name ("": the first, or the only one)

    @property
    def label(self) -> str:
        return KINDS[self.kind].label(self.args)

    def to_yaml(self) -> dict:
        """The step as a scenario writes it (VBRs in their ASCII form)."""
        args = dict(self.args)
        if "vbrs" in args:
            args["vbrs"] = [v.ascii for v in args["vbrs"]]
        if self.node:
            args["node"] = self.node
        return {self.kind: args}


@dataclass
class Scenario:
    name: str
    path: str
    description: str = ""
    node: dict = field(default_factory=dict)                  # the (first) node's settings
    nodes: dict = field(default_factory=dict)                 # name -> settings, with several nodes
    shared: list = field(default_factory=list)                # directories every node mounts (one filesystem)
    images: list[ImageSpec] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    leaks_allowed: list[str] = field(default_factory=list)   # regexes over leak-check findings
    requires: list[str] = field(default_factory=list)        # REQUIREMENTS beyond the engine
    aliases: set = field(default_factory=set)                 # register_as / register names so far
    engine_path: str = "any"        # or "compatible": its faults and races name NC 3.3's exact commands
    # or "sequential": its faults, crashes or loop counts assume artifacts built one after the other
    build_order: str = "any"

    @property
    def uses_store(self) -> bool:
        return any(i.publish for i in self.images) or any(KINDS[s.kind].needs_store(s.args) for s in self.steps)

    def unmet(self, backend: str) -> str:
        """Why this scenario cannot run on `backend` here, or "" when it can."""
        if backend != "sim" and self.nodes:
            return "several nodes with shared storage (simulator only)"
        if backend != "sim" and "loops" in self.node:
            return "sets the node's loop device count (simulator only)"
        if backend != "sim" and "hypervisor" in self.node:
            return "runs domains on the simulator's hypervisor"
        if backend != "sim" and self.dialect != "debian12":
            return f"{self.dialect} dialect; real nodes run Debian 12 tools"
        if backend != "sim" and self.uses_store and any(s.kind == "bundle_instance" for s in self.steps):
            # a bundled instance root holds what the node's kernel wrote into it (mount times, journal), so
            # the image's digest, and every name derived from it, is the backend's own
            return "bundles a running instance: the names pinned here are the simulator's"
        return unmet(self.requires)

    def fast_path(self) -> Scenario:
        """The same scenario on the engine's fast path: devices and bytes must come out the same; only the
        steps that name NC 3.3's exact commands no longer apply."""
        self.node = dict(self.node, fast_path=True)
        self.steps = [s for s in self.steps if not KINDS[s.kind].names_nc_commands]
        return self

    @property
    def dialect(self) -> str:
        return self.node.get("dialect", "debian12")

    @property
    def seed(self) -> int:
        return self.node.get("seed", 0)
