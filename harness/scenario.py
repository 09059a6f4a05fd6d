"""YAML scenarios, first version: a node, its images, and steps. Validated before anything runs, so a bad
file costs one line naming the file, the step and the field, and touches no node."""
from __future__ import annotations

import copy
import os
import re
from dataclasses import dataclass, field

import yaml

from engine.controller import SAFE_ID
from engine.vbr import MAX_SIZE, Vbr, VbrError, parse_ascii, parse_vbrs, safe_resource_id

from .images import ImageSpec

EXPECT_COMMANDS = ("losetup -a", "dmsetup table", "dmsetup ls")
STEP_FIELDS = {
    # step kind: {field: (type, required)}
    "run_instance": {"id": (str, True), "user": (str, True), "vbrs": (list, True), "key": (str, False),
                     "pinned": (dict, False), "expect_error": (str, False)},
    "terminate_instance": {"id": (str, True), "expect_error": (str, False)},
    "restart_node": {"reboot": (bool, False)},
    "expect": {"losetup -a": (str, False), "dmsetup table": (str, False), "dmsetup ls": (str, False),
               "match": (str, False), "ignore": (list, False)},
    "expect_files": {"present": (list, False), "absent": (list, False), "contains": (dict, False)},
    # regexes over the commands the engine issued in the latest run/terminate/restart step
    # (`order`: each regex's first match comes after the previous one's)
    "expect_commands": {"present": (list, False), "absent": (list, False), "count": (dict, False),
                        "order": (list, False)},
    # simulator only: the nth command matching `match` fails like the real tool, or kills the engine there
    "inject_fault": {"match": (str, True), "nth": (int, False), "times": (int, False), "crash": (bool, False),
                     "after": (bool, False), "run_first": (list, False)},
    # simulator only: another program (a hypervisor) keeps a device open for `seconds` of virtual time;
    # `link` names the device through the instance's link-to-<guest device> (e.g. sda)
    "hold_device": {"id": (str, True), "link": (str, True), "seconds": (int, True)},
    # simulator only: the hypervisor runs (start_domain) or loses (kill_domain: the guest crashed, QEMU exited)
    # the instance's domain; a running domain holds its disk (link-to-sda) open
    "start_domain": {"id": (str, True)},
    "kill_domain": {"id": (str, True)},
    # another program on the node (not the engine, not in its trace): foreign loops, a racing process
    "node_command": {"argv": (list, True), "stdin": (str, False), "expect_rc": (int, False)},
    "check_invariants": {"terminated": (list, False)},
    # exactly these instances are running on the (possibly restarted) engine
    "expect_instances": {"running": (list, True)},
    # BundleInstance through the object store; `register_as` names the registered result for later VBRs
    "bundle_instance": {"id": (str, True), "bucket": (str, True), "prefix": (str, True), "register_as": (str, False),
                        "cancel_after_objects": (int, False), "expect_state": (str, False)},
    # a file inside the instance's root filesystem (mounted read-only for the check); `match: regex` makes
    # `content` a regular expression the whole file must match
    "expect_guest_file": {"id": (str, True), "path": (str, True), "content": (str, True), "match": (str, False)},
    # the instance's root filesystem is `size` bytes (its superblock, read with dd)
    "expect_guest_fs": {"id": (str, True), "size": (int, True)},
    # an image tool on the node: `args` as after `nc-harness image` (resize, stamp, zerofree), no --backend
    "image": {"args": (list, True), "expect_rc": (int, False), "expect_error": (str, False)},
    # RegisterImage for an uploaded bundle; `as` names it for later VBRs (location `registered`);
    # `kernel`/`ramdisk` name images registered earlier in the scenario
    "register": {"manifest": (str, True), "as": (str, True), "kernel": (str, False), "ramdisk": (str, False)},
    # read the instance's kernel, ramdisk and disk off the node and boot them under libvirt (harness.bootcheck)
    "boot_check": {"id": (str, True), "timeout": (int, False), "console": (list, False)},
    # euca-imager's command line (engine.imager) on the node; `vbr=...:staged` names a scenario image
    "imager": {"args": (list, True), "expect_rc": (int, False), "expect_error": (str, False)},
}
NODE_FIELDS = {"dialect": str, "seed": int, "instances_path": str, "cache_mb": int, "work_mb": int,
               "inject_keys": bool, "concurrent_disk_ops": int, "loops": int, "hypervisor": dict,
               "fast_path": bool, "build_workers": int}
NODE_BOUNDS = {"seed": (0, 2**63 - 1), "cache_mb": (0, 1 << 20), "work_mb": (0, 1 << 20),
               "concurrent_disk_ops": (0, 64), "build_workers": (1, 16)}
IMAGE_FIELDS = {"id": (str, False), "size": (int, False), "content": (str, False), "manifest": (str, False),
                "digest": (str, False), "files": (dict, False), "symlinks": (dict, False), "serve": (str, False),
                "source": (str, False), "publish": (dict, False)}
CONTENTS = ("zeros", "ext2", "ext3", "pattern", "file", "ext3-image")
# what a scenario may need beyond the engine: the node image's kernel and initrd, a libvirt to boot them
REQUIREMENTS = ("node-image", "libvirt", "long-run")


class ScenarioError(Exception):
    pass


@dataclass
class Step:
    kind: str
    args: dict
    index: int

    @property
    def label(self) -> str:
        verb = {"run_instance": "run", "terminate_instance": "terminate", "restart_node": "restart",
                "inject_fault": "fault"}.get(self.kind, self.kind)
        if self.kind == "restart_node" and self.args.get("reboot"):
            verb = "reboot"
        name = self.args.get("id")
        return f"{verb} {name}" if name else verb


@dataclass
class Scenario:
    name: str
    path: str
    description: str = ""
    node: dict = field(default_factory=dict)
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
        return any(i.publish for i in self.images) or any(
            s.kind in ("bundle_instance", "register") or s.kind == "imager" and "bundle" in s.args["args"]
            for s in self.steps)

    def unmet(self, backend: str) -> str:
        """Why this scenario cannot run on `backend` here, or "" when it can."""
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
        from .requirements import unmet
        return unmet(self.requires)

    def fast_path(self) -> "Scenario":
        """The same scenario on the engine's fast path: devices and bytes must come out the same; only the
        steps that name NC 3.3's exact commands no longer apply."""
        self.node = dict(self.node, fast_path=True)
        self.steps = [s for s in self.steps if s.kind != "expect_commands"]
        return self

    @property
    def dialect(self) -> str:
        return self.node.get("dialect", "debian12")

    @property
    def seed(self) -> int:
        return self.node.get("seed", 0)


def _type_name(t) -> str:
    return {str: "a string", int: "an integer", bool: "true or false", list: "a list", dict: "a mapping"}[t]


def _check_type(value, t, where: str) -> None:
    ok = isinstance(value, t) and not (t is int and isinstance(value, bool))
    if t is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        ok = False
    if not ok:
        raise ScenarioError(f"{where}: must be {_type_name(t)}")


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
    unknown = set(doc) - {"name", "description", "node", "images", "steps", "leaks_allowed", "requires",
                          "engine_path", "build_order"}
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
    node = doc.get("node") or {}
    if not isinstance(node, dict):
        raise ScenarioError(f"{path}: node: must be a mapping")
    for key, value in node.items():
        if key not in NODE_FIELDS:
            raise ScenarioError(f"{path}: node: unknown field '{key}'")
        _check_type(value, NODE_FIELDS[key], f"{path}: node.{key}")
    for key, (low, high) in NODE_BOUNDS.items():
        if key in node and not low <= node[key] <= high:
            raise ScenarioError(f"{path}: node.{key}: {node[key]} is not within {low}..{high}")
    if node.get("dialect", "debian12") not in ("debian12", "el6"):
        raise ScenarioError(f"{path}: node.dialect: must be debian12 or el6")
    hv = node.get("hypervisor")
    if hv is not None and (set(hv) - {"release_delay"} or not isinstance(hv.get("release_delay", 0), int)
                           or hv.get("release_delay", 0) < 0):
        raise ScenarioError(f"{path}: node.hypervisor: a mapping with an optional 'release_delay' (whole seconds)")
    if "loops" in node and (node.get("dialect") != "el6" or not 1 <= node["loops"] <= 256):
        # Debian 12's kernel adds loop devices on demand (LOOP_CTL_GET_FREE): only el6 has a fixed pool
        raise ScenarioError(f"{path}: node.loops: a fixed pool of 1 to 256 loop devices, with dialect el6")
    sc.node = node
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
        if kind not in STEP_FIELDS:
            raise ScenarioError(f"{where}: unknown step '{kind}' (one of {', '.join(STEP_FIELDS)})")
        args = args or {}
        if not isinstance(args, dict):
            raise ScenarioError(f"{where} ({kind}): must be a mapping")
        _check_fields(args, STEP_FIELDS[kind], f"{where} ({kind})")
        if kind == "bundle_instance" and "register_as" in args:
            sc.aliases.add(args["register_as"])
        if kind == "bundle_instance" and args.get("expect_state", "complete") not in ("complete", "cancelled",
                                                                                     "failed"):
            raise ScenarioError(f"{where} (bundle_instance): expect_state: complete, cancelled or failed")
        if kind == "run_instance":
            args = dict(args, vbrs=[_vbr(v, sc, f"{where} (run_instance): vbrs[{j}]")
                                    for j, v in enumerate(args["vbrs"])])
            if "expect_error" not in args:
                try:
                    checked = copy.deepcopy(args["vbrs"])
                    for v in checked:   # resolved when the step runs; any store location checks the rest
                        if v.location == "registered":
                            v.location = "walrus://bucket/image.manifest.xml"
                    parse_vbrs(checked)
                except VbrError as exc:
                    raise ScenarioError(f"{where} (run_instance): vbrs: {exc}") from None
        if kind == "imager":
            args = dict(args, args=_imager_args(args, sc, f"{where} (imager)"))
        if kind == "image":
            from .cli.image_prep import step_parser
            if "--backend" in args["args"]:
                raise ScenarioError(f"{where} (image): args: no --backend (the step runs on the scenario's node)")
            try:
                step_parser().parse_args([str(a) for a in args["args"]])
            except (ValueError, SystemExit) as exc:
                raise ScenarioError(f"{where} (image): args: {exc}") from None
        if kind == "register":
            for key in ("kernel", "ramdisk"):
                name = args.get(key)
                if name and name not in sc.aliases and not any(s.id == name and s.publish for s in sc.images):
                    raise ScenarioError(f"{where} (register): {key}: '{name}' is neither a published image nor "
                                        "registered by an earlier step")
            sc.aliases.add(args["as"])
        if kind == "expect_guest_file" and args.get("match", "exact") not in ("exact", "regex"):
            raise ScenarioError(f"{where} (expect_guest_file): field 'match': must be exact or regex")
        if kind == "expect":
            if args.get("match", "exact") not in ("exact", "lines", "contains"):
                raise ScenarioError(f"{where} (expect): field 'match': must be exact, lines or contains")
            if not any(c in args for c in EXPECT_COMMANDS):
                raise ScenarioError(f"{where} (expect): needs one of {', '.join(EXPECT_COMMANDS)}")
            bad = [x for x in args.get("ignore", []) if x not in ("inodes", "uuids", "ids")]
            if bad:
                raise ScenarioError(f"{where} (expect): field 'ignore': unknown item '{bad[0]}'")
        for key in ("argv", "run_first"):
            if key in args and (not args[key] or not all(isinstance(a, str) for a in args[key])):
                raise ScenarioError(f"{where} ({kind}): field '{key}': a non-empty list of strings (an argv)")
        if kind == "inject_fault":
            try:
                re.compile(args["match"])
            except re.error as exc:
                raise ScenarioError(f"{where} (inject_fault): field 'match': bad regex: {exc}") from None
        if kind == "expect_commands":
            for key in ("present", "absent", "order"):
                for j, pattern in enumerate(args.get(key, [])):
                    try:
                        re.compile(str(pattern))
                    except re.error as exc:
                        raise ScenarioError(f"{where} (expect_commands): {key}[{j}]: bad regex: {exc}") from None
        for key in ("id", "user"):
            value = args.get(key)
            if isinstance(value, str) and kind != "bundle_instance" and (
                    not SAFE_ID.fullmatch(value) or ".." in value):
                # ids name directories and dm devices on the node (engine.controller checks them again)
                raise ScenarioError(f"{where} ({kind}): {key} {value!r}: 1 to 64 letters, digits, '.', '_' and '-'")
        if isinstance(args.get("key"), str) and any(c in args["key"] for c in "\n\r\0"):
            raise ScenarioError(f"{where} ({kind}): key: one line, no NUL (a newline would add a second key)")
        if kind == "run_instance" and set(args.get("pinned") or {}) - {"keyed", "disk"}:
            raise ScenarioError(f"{where} (run_instance): field 'pinned': only 'keyed' and 'disk' can be pinned")
        sc.steps.append(Step(kind, args, i + 1))
    return sc


def _source_path(source: str | None, scenario_path: str) -> str | None:
    """`{node_dir}` is the node image directory; other relative paths are relative to the scenario file."""
    if source is None:
        return None
    if "{node_dir}" in source:
        from .node.build import DEFAULT_DIR
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
        _check_type(mapping[key], t, f"{where}: field '{key}'")


def _imager_args(args: dict, sc: Scenario, where: str) -> list[str]:
    """Tokens as strings, staged VBRs resolved; a command line expected to work is checked now."""
    from engine.imager.grammar import ImagerUsage
    from engine.imager.run import HelpRequested, Imager
    tokens = []
    for j, token in enumerate(args["args"]):
        if not isinstance(token, str):
            raise ScenarioError(f"{where}: args[{j}]: a string (one command-line token)")
        key, eq, value = token.partition("=")
        if eq and key.lstrip("-") == "vbr" and value.endswith(":staged"):
            token = f"{key}={_vbr(value, sc, f'{where}: args[{j}]').ascii}"
        tokens.append(token)
    if args.get("expect_rc", 0) == 0:
        try:
            Imager(None, None).check(tokens)
        except HelpRequested:
            pass
        except ImagerUsage as exc:
            raise ScenarioError(f"{where}: {exc}") from None
    return tokens


def _vbr(value, sc: Scenario, where: str) -> Vbr:
    """ASCII form, or a mapping {type, id, size, format, device, location}; location `staged` means the
    scenario's image with that id."""
    try:
        if isinstance(value, str):
            vbr = parse_ascii(value)
        elif isinstance(value, dict):
            unknown = set(value) - {"type", "id", "size", "format", "device", "location"}
            if unknown:
                raise ScenarioError(f"{where}: unknown field '{sorted(unknown)[0]}'")
            vbr = Vbr(str(value.get("type", "")), str(value.get("id", "none")), int(value.get("size", -1)),
                      str(value.get("format", "none")), str(value.get("device", "none")),
                      str(value.get("location", "none")))
        else:
            raise ScenarioError(f"{where}: must be an ASCII VBR or a mapping")
    except (VbrError, ValueError) as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    if vbr.location == "registered":
        if vbr.id not in sc.aliases and not any(s.id == vbr.id and s.publish for s in sc.images):
            raise ScenarioError(f"{where}: '{vbr.id}' is neither a published image nor an earlier register_as")
        return vbr
    if vbr.location == "staged":
        spec = next((s for s in sc.images if s.id == vbr.id), None)
        if spec is None:
            raise ScenarioError(f"{where}: no image '{vbr.id}' under 'images' to stage")
        vbr.location = spec.location
    return vbr
