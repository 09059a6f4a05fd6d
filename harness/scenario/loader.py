"""YAML scenarios, first version: a node, its images, and steps. Validated before anything runs, so a bad
file costs one line naming the file, the step and the field, and touches no node. The step kinds and their
fields come from the registry (`harness.scenario.registry`, one module per kind under `steps/`)."""
from __future__ import annotations

import difflib
import os

import yaml

from engine.vbr import MAX_SIZE, safe_resource_id
from harness.images.staging import ImageSpec
from harness.scenario.model import Scenario, Step
from harness.scenario.registry import ScenarioError, check_type, safe_id
from harness.scenario.steps import KINDS

NODE_FIELDS = {"dialect": str, "seed": int, "instances_path": str, "cache_mb": int, "work_mb": int,
               "inject_keys": bool, "concurrent_disk_ops": int, "loops": int, "hypervisor": dict,
               "fast_path": bool, "build_workers": int}
# cache_mb/work_mb: NC reads NC_CACHE_SIZE and NC_WORK_SIZE as C ints of MB, so operators set up to 2^31-1 MB
NODE_BOUNDS = {"seed": (0, 2**63 - 1), "cache_mb": (0, 2**31 - 1), "work_mb": (0, 2**31 - 1),
               "concurrent_disk_ops": (0, 64), "build_workers": (1, 16)}
IMAGE_FIELDS = {"id": (str, False), "size": (int, False), "content": (str, False), "manifest": (str, False),
                "digest": (str, False), "files": (dict, False), "symlinks": (dict, False), "serve": (str, False),
                "source": (str, False), "publish": (dict, False)}
CONTENTS = ("zeros", "ext2", "ext3", "pattern", "file", "ext3-image")
# what a scenario may need beyond the engine: the node image's kernel and initrd, a libvirt to boot them
REQUIREMENTS = ("node-image", "libvirt", "long-run")


def load(path: str) -> Scenario:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not UTF-8 text") from None
    return parse(text, path)


MAX_SCENARIO_BYTES = 1 << 20      # the largest shipped scenario is 12 KB
MAX_IMAGE_BYTES = MAX_SIZE        # a TiB: sizes are bounded before anything is allocated for them


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; a scenario with both is a mistake to report."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (str, int, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key}'", key_node.start_mark)
            if isinstance(key, (str, int, bool)):
                seen.add(key)
        return super().construct_mapping(node, deep)


def parse(text: str, path: str) -> Scenario:
    if len(text) > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"{path}: {len(text)} characters, more than a scenario may have ({MAX_SCENARIO_BYTES})")
    try:
        doc = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise ScenarioError(f"{path}: YAML error: nested too deeply") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise ScenarioError(f"{where}: YAML error: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: YAML error: {exc}") from None
    if not isinstance(doc, dict):
        raise ScenarioError(f"{path}: a scenario is a mapping with 'name', 'node', 'images' and 'steps'")
    unknown = set(doc) - {"name", "description", "node", "nodes", "shared", "images", "steps", "leaks_allowed",
                          "requires", "engine_path", "build_order"}
    if unknown:
        raise ScenarioError(f"{path}: unknown top-level field '{sorted(unknown)[0]}'")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise ScenarioError(f"{path}: field 'name': required, a string")
    sc = Scenario(name, path, str(doc.get("description", "")))
    allowed = doc.get("leaks_allowed") or []
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise ScenarioError(f"{path}: leaks_allowed: must be a list of regexes")
    sc.leaks_allowed = allowed
    requires = doc.get("requires") or []
    if not isinstance(requires, list) or any(r not in REQUIREMENTS for r in requires):
        raise ScenarioError(f"{path}: requires: a list of {', '.join(REQUIREMENTS)}")
    sc.requires = requires
    if doc.get("engine_path", "any") not in ("any", "compatible"):
        raise ScenarioError(f"{path}: engine_path: 'any' or 'compatible' (its faults name NC 3.3's commands)")
    sc.engine_path = doc.get("engine_path", "any")
    if doc.get("build_order", "any") not in ("any", "sequential"):
        raise ScenarioError(f"{path}: build_order: 'any' or 'sequential' (its faults assume one build at a time)")
    sc.build_order = doc.get("build_order", "any")
    if "node" in doc and "nodes" in doc:
        raise ScenarioError(f"{path}: 'node' and 'nodes' together: one node, or several by name")
    if "nodes" in doc:
        nodes = doc["nodes"]
        if not isinstance(nodes, dict) or len(nodes) < 2:
            raise ScenarioError(f"{path}: nodes: a mapping of two or more node names to their settings")
        for name, settings in nodes.items():
            if not isinstance(name, str):
                raise ScenarioError(f"{path}: nodes: names are strings")
            safe_id(name, f"{path}: nodes", "name")
            sc.nodes[name] = _check_node(settings or {}, f"{path}: nodes.{name}")
        sc.node = next(iter(sc.nodes.values()))
    else:
        sc.node = _check_node(doc.get("node") or {}, f"{path}: node")
    shared = doc.get("shared") or []
    if shared and not sc.nodes:
        raise ScenarioError(f"{path}: shared: storage shared between nodes needs 'nodes' (two or more)")
    if not isinstance(shared, list) or any(not isinstance(p, str) or not p.startswith("/") or ".." in p.split("/")
                                           for p in shared):
        raise ScenarioError(f"{path}: shared: a list of absolute directory paths (one filesystem every node mounts)")
    sc.shared = shared
    images = doc.get("images") or []
    if not isinstance(images, list):
        raise ScenarioError(f"{path}: images: must be a list")
    for i, img in enumerate(images):
        where = f"{path}: images[{i}]"
        if not isinstance(img, dict):
            raise ScenarioError(f"{where}: must be a mapping")
        _check_fields(img, IMAGE_FIELDS, where)
        if "id" not in img:
            raise ScenarioError(f"{where}: field 'id': required")
        if not safe_resource_id(img["id"]):
            raise ScenarioError(f"{where}: id '{img['id']}': 4 to 64 letters, digits, '.', '_' and '-'")
        if img.get("content", "zeros") not in CONTENTS:
            raise ScenarioError(f"{where}.content: must be one of {', '.join(CONTENTS)}")
        if (img.get("content") == "file") != ("source" in img):
            raise ScenarioError(f"{where}: content 'file' and 'source' (a file on this machine) go together")
        if "size" not in img and img.get("content") != "file":
            raise ScenarioError(f"{where}: field 'size': required")
        if not isinstance(img.get("size", 1), int) or isinstance(img.get("size", 1), bool):
            raise ScenarioError(f"{where}.size: must be an integer (bytes)")
        if img.get("size", 1) <= 0:
            raise ScenarioError(f"{where}.size: must be positive")
        if img.get("size", 1) > MAX_IMAGE_BYTES:
            raise ScenarioError(f"{where}.size: {img['size']} bytes, more than the {MAX_IMAGE_BYTES} allowed")
        if any(img["id"] == other.id for other in sc.images):
            raise ScenarioError(f"{where}: duplicate image id '{img['id']}'")
        if img.get("serve", "http") != "http":
            raise ScenarioError(f"{where}.serve: only 'http' is supported")
        if "serve" in img and (img.get("files") or img.get("symlinks")):
            raise ScenarioError(f"{where}: files and symlinks need a staged image (drop 'serve')")
        publish = img.get("publish")
        if publish is not None:
            if set(publish) - {"bucket", "kernel", "ramdisk"} or not isinstance(publish.get("bucket"), str):
                raise ScenarioError(f"{where}.publish: a mapping with 'bucket' (and 'kernel', 'ramdisk')")
            published = {i.id for i in sc.images if i.publish}
            for ref in ("kernel", "ramdisk"):
                if ref in publish and publish[ref] not in published:
                    raise ScenarioError(f"{where}.publish.{ref}: '{publish[ref]}' is not a published image above")
            if img["id"].startswith("emi-") and not {"kernel", "ramdisk"} <= set(publish):
                raise ScenarioError(f"{where}.publish: a machine image needs 'kernel' and 'ramdisk'")
        sc.images.append(ImageSpec(img["id"], img.get("size", 0), img.get("content", "zeros"), img.get("manifest"),
                                   img.get("digest"), img.get("files") or {}, img.get("symlinks") or {},
                                   served="serve" in img, source=_source_path(img.get("source"), path),
                                   publish=publish))
    steps = doc.get("steps")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{path}: field 'steps': required, a non-empty list")
    for i, raw in enumerate(steps):
        where = f"{path}: step {i + 1}"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{where}: must be a mapping with exactly one key, the step's kind")
        if len(raw) != 1:
            raise ScenarioError(f"{where}: {len(raw)} keys ({', '.join(map(str, list(raw)[:4]))}); a step is a "
                                "mapping with exactly one key, its kind")
        (kind, args), = raw.items()
        node_name = ""
        if isinstance(args, dict) and "node" in args:
            node_name = args["node"]
            if not sc.nodes or node_name not in sc.nodes:
                raise ScenarioError(f"{where}: node '{node_name}' is not one of the scenario's nodes"
                                    + (f" ({', '.join(sc.nodes)})" if sc.nodes else " (it has one: no 'nodes')"))
            args = {k: v for k, v in args.items() if k != "node"}
        if kind not in KINDS:
            close = difflib.get_close_matches(str(kind), KINDS, n=3)
            hint = (f"did you mean {' or '.join(close)}?" if close else
                    f"{len(KINDS)} kinds: docs/reference/steps.md lists them")
            raise ScenarioError(f"{where}: unknown step '{kind}' ({hint})")
        args = KINDS[kind].check(args or {}, sc, f"{where} ({kind})")
        sc.steps.append(Step(kind, args, i + 1, node_name))
    return sc


def _check_node(node, where: str) -> dict:
    if not isinstance(node, dict):
        raise ScenarioError(f"{where}: must be a mapping")
    for key, value in node.items():
        if key not in NODE_FIELDS:
            raise ScenarioError(f"{where}: unknown field '{key}'")
        check_type(value, NODE_FIELDS[key], f"{where}.{key}")
    for key, (low, high) in NODE_BOUNDS.items():
        if key in node and not low <= node[key] <= high:
            raise ScenarioError(f"{where}.{key}: {node[key]} is not within {low}..{high}")
    if node.get("dialect", "debian12") not in ("debian12", "el6"):
        raise ScenarioError(f"{where}.dialect: must be debian12 or el6")
    hv = node.get("hypervisor")
    if hv is not None and (set(hv) - {"release_delay"} or not isinstance(hv.get("release_delay", 0), int)
                           or hv.get("release_delay", 0) < 0):
        raise ScenarioError(f"{where}.hypervisor: a mapping with an optional 'release_delay' (whole seconds)")
    if "loops" in node and (node.get("dialect") != "el6" or not 1 <= node["loops"] <= 256):
        # Debian 12's kernel adds loop devices on demand (LOOP_CTL_GET_FREE): only el6 has a fixed pool
        raise ScenarioError(f"{where}.loops: a fixed pool of 1 to 256 loop devices, with dialect el6")
    return node


def _source_path(source: str | None, scenario_path: str) -> str | None:
    """`{node_dir}` is the node image directory; other relative paths are relative to the scenario file."""
    if source is None:
        return None
    if "{node_dir}" in source:
        from harness.nodes.build import DEFAULT_DIR
        return source.replace("{node_dir}", DEFAULT_DIR)
    return os.path.join(os.path.dirname(os.path.abspath(scenario_path)), source)


def _check_fields(mapping: dict, spec: dict, where: str) -> None:
    for key in mapping:
        if key not in spec:
            raise ScenarioError(f"{where}: unknown field '{key}'")
    for key, (t, required) in spec.items():
        if key not in mapping:
            if required:
                raise ScenarioError(f"{where}: field '{key}': required")
            continue
        check_type(mapping[key], t, f"{where}: field '{key}'")
