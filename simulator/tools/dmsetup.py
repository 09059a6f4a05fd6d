"""dmsetup over the simulated device-mapper, printing what libdm 1.02.185 (or 1.02.77 on el6) prints."""
from __future__ import annotations

import errno

from simulator.dm.mapper import DmDevice
from simulator.dm.table import TableSyntaxError, build_targets, parse_table_text
from simulator.fs.base import FsError

from .base import Abort, Result, tool

VERSIONS = {
    "debian12": "Library version:   1.02.185 (2022-05-18)\nDriver version:    4.47.0\n",
    "el6": "Library version:   1.02.77-RHEL6 (2012-10-15)\nDriver version:    4.23.6\n",
}


def ioctl_error(node, ioctl: str, name: str, exc: FsError, number: str = "") -> str:
    """libdm names the device, and its (major:minor) when the task carries one: the table load that follows
    a create does (seen on the real node), tasks addressed by name do not."""
    if node.dialect.dm_ioctl_names_device:
        return f"device-mapper: {ioctl} ioctl on {name} {number} failed: {exc.strerror}\n"
    return f"device-mapper: {ioctl} ioctl failed: {exc.strerror}\n"


def table_lines(dev: DmDevice, status: bool = False) -> list[str]:
    lines = []
    for t in dev.live or []:
        args = t.status_args() if status else t.table_args()
        lines.append(f"{t.start} {t.length} {t.name} {args}")
    return lines


def _state(dev: DmDevice) -> str:
    return (("L" if dev.live is not None else "-") + ("I" if dev.inactive is not None else "-")
            + ("s" if dev.suspended else "-") + ("r" if dev.read_only else "w"))


def info_long(dev: DmDevice) -> str:
    tables = {(True, False): "LIVE", (False, True): "INACTIVE", (True, True): "LIVE & INACTIVE",
              (False, False): "None"}[(dev.live is not None, dev.inactive is not None)]
    out = (f"Name:              {dev.name}\n"
           f"State:             {'SUSPENDED' if dev.suspended else 'ACTIVE'}{' (READ-ONLY)' if dev.read_only else ''}\n"
           f"Read Ahead:        256\n"
           f"Tables present:    {tables}\n"
           f"Open count:        {dev.open_count}\n"
           f"Event number:      {dev.event_nr}\n"
           f"Major, minor:      {dev.major}, {dev.minor}\n"
           f"Number of targets: {len(dev.live or [])}\n")
    if dev.uuid:
        out += f"UUID: {dev.uuid}\n"
    return out + "\n"


def info_columns(devs: list[DmDevice]) -> str:
    width = max([16] + [len(d.name) for d in devs])
    uuid_width = max([32] + [len(d.uuid) for d in devs])
    head = f"{'Name':<{width}} Maj Min Stat Open Targ Event  {'UUID':<{uuid_width}}\n"
    rows = "".join(f"{d.name:<{width}} {d.major:>3} {d.minor:>3} {_state(d):<4} {d.open_count:>4} "
                   f"{len(d.live or []):>4} {d.event_nr:>6} {d.uuid:<{uuid_width}}\n" for d in devs)
    return head + rows


def _deps(dev: DmDevice) -> list:
    seen, out = set(), []
    for t in dev.live or []:
        for d in t.devices():
            if d.key not in seen:
                seen.add(d.key)
                out.append(d)
    return sorted(out, key=lambda d: d.key, reverse=True)


def _utf8(node) -> bool:
    locale = node.env.get("LC_ALL") or node.env.get("LC_CTYPE") or node.env.get("LANG") or "C"
    return locale.lower().replace("-", "").endswith("utf8")


def tree(node) -> str:
    """`dmsetup ls --tree`: libdm draws with UTF-8 box characters in a UTF-8 locale (seen on the real node),
    with ASCII otherwise; children in the kernel's dependency order."""
    devs = node.kernel.dm.listed()
    used = {d.key for dev in devs for d in _deps(dev)}
    lines: list[str] = []
    fancy = _utf8(node) and not node.dialect.name.startswith("el")
    branch, corner, rail = ("├─", "└─", "│  ") if fancy else ("|-", "`-", "|  ")

    def walk(dev, prefix: str, last: bool, top: bool) -> None:
        label = f"{dev.name} ({dev.major}:{dev.minor})" if isinstance(dev, DmDevice) else f" ({dev.major}:{dev.minor})"
        if top:
            lines.append(label)
            child_prefix = " "
        else:
            lines.append(f"{prefix}{corner if last else branch}{label}")
            child_prefix = prefix + ("   " if last else rail)
        children = _deps(dev) if isinstance(dev, DmDevice) else []
        for i, child in enumerate(children):
            walk(child, child_prefix, i == len(children) - 1, False)

    for dev in devs:
        if dev.key not in used:
            walk(dev, "", True, True)
    return "".join(line + "\n" for line in lines)


def _take_table(node, argv_rest: list[str], stdin: str | None, flags: dict) -> tuple[str, str]:
    if flags.get("table") is not None:
        return flags["table"].replace(";", "\n"), "from --table"
    if argv_rest:
        path = argv_rest[0]
        try:
            return node.kernel.vfs.read_file(path).decode(errors="surrogateescape"), path
        except FsError:
            raise Abort(f"Couldn't open '{path}' for reading\nCommand failed.\n") from None
    return stdin or "", "on stdin"


@tool("dmsetup")
def dmsetup(node, argv, stdin):
    args = argv[1:]
    flags: dict = {"table": None, "uuid": "", "force": False, "columns": False, "tree": False,
                   "notable": False, "readonly": False, "concise": False}
    words = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--table" and i + 1 < len(args):
            flags["table"] = args[i + 1]
            i += 2
            continue
        if a in ("-u", "--uuid") and i + 1 < len(args):
            flags["uuid"] = args[i + 1]
            i += 2
            continue
        if a in ("-f", "--force"):
            flags["force"] = True
        elif a in ("-c", "-C", "--columns"):
            flags["columns"] = True
        elif a == "--tree":
            flags["tree"] = True
        elif a == "--showkeys":
            flags["showkeys"] = True   # only crypt tables have keys to hide; ours print the same either way
        elif a in ("-n", "--notable"):
            flags["notable"] = True
        elif a in ("-r", "--readonly"):
            flags["readonly"] = True
        elif a == "--concise" and node.dialect.dm_concise:
            flags["concise"] = True
        elif a in ("--retry", "--noudevsync", "--noudevrules", "-v", "--verbose", "--noheadings"):
            flags[a] = True
        elif a.startswith("-") and len(a) > 1:
            raise Abort(f"dmsetup: unrecognized option '{a}'\nCouldn't process command line.\n")
        else:
            words.append(a)
        i += 1
    if not words:
        raise Abort("Usage:\n\ndmsetup\n        [--version] [-h|--help [-c|-C|--columns]]\n", rc=1)
    command, rest = words[0], words[1:]
    handler = COMMANDS.get(command)
    if handler is None:
        raise Abort(f"Unknown command: {command}\nCommand failed.\n" if node.dialect.name == "el6"
                    else f"dmsetup: Unknown command: {command}\n")
    return handler(node, rest, stdin, flags)


def _need_name(command: str, rest: list[str]) -> str:
    if not rest:
        raise Abort("Please specify device.\nCommand failed.\n")
    return rest[0]


def cmd_create(node, rest, stdin, flags):
    if flags["concise"]:
        return _create_concise(node, rest, stdin)
    name = _need_name("create", rest)
    specs = []
    if not flags["notable"]:
        text, source = _take_table(node, rest[1:], stdin, flags)
        try:
            specs = parse_table_text(text, source)
        except TableSyntaxError as exc:
            raise Abort(f"{exc}\nCommand failed.\n") from None
    _create_one(node, name, flags["uuid"], specs, flags["readonly"])
    return Result(0)


def _create_one(node, name: str, uuid: str, specs: list, readonly: bool) -> None:
    """DM_DEV_CREATE, then DM_TABLE_LOAD and DM_DEV_SUSPEND (resume) if there is a table; a device whose
    table the kernel refuses is removed again."""
    dm = node.kernel.dm
    if len(name) >= 128:
        raise Abort(f"Name \"{name}\" too long.\nCommand failed.\n")
    try:
        dev = dm.create(name, uuid)
    except FsError as exc:
        raise Abort(ioctl_error(node, "create", name, exc) + "Command failed.\n") from None
    if specs:
        try:
            targets = build_targets(specs, node.kernel.resolve_dm_arg)
            dm.load(dev, targets)
        except FsError as exc:
            number = f"({dev.major}:{dev.minor})"
            dm.remove(dev)
            raise Abort(ioctl_error(node, "reload", name, exc, number) + "Command failed.\n") from None
        dev.read_only = readonly
        dm.resume(dev)


def _create_concise(node, rest, stdin):
    """`create --concise "NAME,UUID,MINOR,FLAGS,TABLE[,TABLE]...[;NAME,...]"` (or the list on stdin): each
    device is parsed, created, loaded and resumed before the next is read, so a failure leaves the devices
    before it in place and none after it (measured on the UML node, lvm2 1.02.185)."""
    text = rest[0] if rest and rest[0] else (stdin or "")
    for entry in text.strip().split(";"):
        if not entry.strip():
            continue
        fields = entry.split(",")
        if len(fields) < 5 or not fields[4]:
            shown = [fields[i] if i < len(fields) else "(null)" for i in range(5)]
            head = ("Incomplete entry: five comma-separated fields are required for each device"
                    if len(fields) >= 5 else "Five comma-separated fields are required for each device")
            raise Abort(f"{head}\nParsed {len(fields)} fields: name: {shown[0]} uuid: {shown[1]} "
                        f"minor: {shown[2]} flags: {shown[3]} table: {shown[4]}\nCommand failed.\n")
        name, uuid, minor, mode = fields[:4]
        if mode not in ("", "ro", "rw"):
            raise Abort(f"Invalid flags parameter '{mode}' must be 'ro' or 'rw' or empty.\nCommand failed.\n")
        if minor:
            # a chosen minor is lvm2's, never NC's or the engine's: not modelled rather than modelled wrong
            raise Abort("dmsetup: the simulator does not model --concise with a chosen minor\nCommand failed.\n")
        try:
            specs = parse_table_text("\n".join(fields[4:]), ".")
        except TableSyntaxError as exc:
            raise Abort(f"{exc}\nCommand failed.\n") from None
        _create_one(node, name, uuid, specs, mode == "ro")
    return Result(0)


def _get(node, name: str, ioctl: str) -> DmDevice:
    dev = node.kernel.dm.get(name)
    if dev is None:
        raise Abort(ioctl_error(node, ioctl, name, FsError(errno.ENXIO)) + "Command failed.\n")
    return dev


def cmd_remove(node, rest, stdin, flags):
    name = _need_name("remove", rest)
    err = ""
    for name in rest:
        dev = node.kernel.dm.get(name)
        try:
            if dev is None:
                raise FsError(errno.ENXIO)
            node.kernel.dm.remove(dev)
        except FsError as exc:
            err += ioctl_error(node, "remove", name, exc)
    if err:
        raise Abort(err + "Command failed.\n")
    return Result(0)


def cmd_remove_all(node, rest, stdin, flags):
    dm = node.kernel.dm
    progress = True
    while progress:
        progress = False
        for dev in list(dm.listed()):
            if dev.open_count == 0:
                dm.remove(dev)
                progress = True
    return Result(0)


def cmd_reload(node, rest, stdin, flags):
    name = _need_name("reload", rest)
    dev = _get(node, name, "reload")
    text, source = _take_table(node, rest[1:], stdin, flags)
    try:
        specs = parse_table_text(text, source)
        node.kernel.dm.load(dev, build_targets(specs, node.kernel.resolve_dm_arg))
    except TableSyntaxError as exc:
        raise Abort(f"{exc}\nCommand failed.\n") from None
    except FsError as exc:
        raise Abort(ioctl_error(node, "reload", name, exc) + "Command failed.\n") from None
    return Result(0)


def cmd_suspend(node, rest, stdin, flags):
    for name in rest or [_need_name("suspend", rest)]:
        node.kernel.dm.suspend(_get(node, name, "suspend"))
    return Result(0)


def cmd_resume(node, rest, stdin, flags):
    for name in rest or [_need_name("resume", rest)]:
        dev = _get(node, name, "resume")
        node.kernel.dm.resume(dev)
    return Result(0)


def _listing(node, rest, ioctl, render):
    devs = node.kernel.dm.listed()
    if rest:
        return Result(0, "".join(render(_get(node, n, ioctl), True) for n in rest))
    if not devs:
        return Result(0, "No devices found\n")
    return Result(0, "".join(render(d, False) for d in devs))


def cmd_table(node, rest, stdin, flags):
    def render(dev, single):
        if single:
            return "".join(line + "\n" for line in table_lines(dev))
        return "".join(f"{dev.name}: {line}\n" for line in table_lines(dev))
    dm = node.kernel.dm
    if not rest and dm.by_name:
        # a live table never changes until the next resume: the driver keeps the listing's text
        return Result(0, dm.table_listing(lambda dev: render(dev, False)))
    return _listing(node, rest, "table", render)


def cmd_status(node, rest, stdin, flags):
    def render(dev, single):
        return "".join((line if single else f"{dev.name}: {line}") + "\n" for line in table_lines(dev, True))
    return _listing(node, rest, "status", render)


def cmd_ls(node, rest, stdin, flags):
    devs = node.kernel.dm.listed()
    if not devs:
        return Result(0, "No devices found\n")
    if flags["tree"]:
        return Result(0, tree(node))
    return Result(0, "".join(f"{d.name}\t({d.major}:{d.minor})\n" for d in devs))


def cmd_info(node, rest, stdin, flags):
    dm = node.kernel.dm
    if rest:
        devs = []
        for name in rest:
            dev = dm.get(name)
            if dev is None:
                raise Abort("Device does not exist.\nCommand failed.\n")
            devs.append(dev)
    else:
        devs = dm.listed()
        if not devs:
            return Result(0, "No devices found\n")
    if flags["columns"]:
        return Result(0, info_columns(devs))
    return Result(0, "".join(info_long(d) for d in devs))


def cmd_deps(node, rest, stdin, flags):
    def render(dev, single):
        deps = _deps(dev)
        body = f"{len(deps)} dependencies\t:" + "".join(f" ({d.major}, {d.minor})" for d in deps)
        return (body if single else f"{dev.name}: {body}") + "\n"
    return _listing(node, rest, "deps", render)


def cmd_version(node, rest, stdin, flags):
    return Result(0, VERSIONS.get(node.dialect.name, VERSIONS["debian12"]))


def cmd_noop(node, rest, stdin, flags):
    return Result(0)


COMMANDS = {
    "create": cmd_create, "remove": cmd_remove, "remove_all": cmd_remove_all, "reload": cmd_reload,
    "load": cmd_reload, "suspend": cmd_suspend, "resume": cmd_resume, "table": cmd_table,
    "status": cmd_status, "ls": cmd_ls, "info": cmd_info, "deps": cmd_deps, "version": cmd_version,
    "mknodes": cmd_noop, "udevcomplete_all": cmd_noop,
}
