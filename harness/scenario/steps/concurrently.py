from __future__ import annotations

import re

from harness.concurrency.run import OPERATION_KINDS, run_concurrently
from harness.scenario.registry import KINDS, Field, ScenarioError, safe_id, step


@step("concurrently", "Operations started together on the node: launches, terminates, the cache purge, fsck, an "
                      "imager run, a restart's recovery, other programs; threads of the node controller or other "
                      "processes sharing its stores, interleaved command by command by a schedule.",
      fields=[Field("operations", list, True, "two or more operations; each a mapping with one step kind among "
                                              f"{', '.join(OPERATION_KINDS)} and optionally `name`, `process` "
                                              "(`nc`, the default: a thread of the node controller; any other "
                                              "name: another process on the node), `hold` (a pinned race: "
                                              "`{at: REGEX, after: true, until: OP, reaches: REGEX | finishes: "
                                              "true | waits: true}` or `{at: REGEX, seconds: N}`) and "
                                              "`may_fail` (its failure is no failure of the step); with several "
                                              "nodes, `node` (the one it runs on)"),
              Field("schedule", dict, False, "on the simulator: `{seed: S, preemptions: K}` (PCT-random, the "
                                             "default with the node's seed and K=2) or `{switches: [[N, NAME], "
                                             "...]}` (no preemption but at the listed decisions; what explore "
                                             "--interleavings saves)")],
      verb="concurrently", engine_operation=True)
def concurrently(args, nc, ctx, where):
    return run_concurrently(args, nc, ctx, where)


@concurrently.label_with
def _label(args):
    return "concurrently " + "+".join(op["name"] for op in args["operations"])


OPERATION_FIELDS = {"name", "process", "hold", "may_fail", "node"}
HOLD_FIELDS = {"at", "after", "until", "reaches", "finishes", "waits", "seconds"}


@concurrently.validate
def _check(args, sc, where):
    ops = args["operations"]
    if len(ops) < 2:
        raise ScenarioError(f"{where}: field 'operations': two or more")
    checked, names = [], []
    for j, raw in enumerate(ops):
        at = f"{where}: operations[{j}]"
        if not isinstance(raw, dict):
            raise ScenarioError(f"{at}: a mapping with one step kind ({', '.join(OPERATION_KINDS)})")
        kinds = [k for k in raw if k not in OPERATION_FIELDS]
        if len(kinds) != 1:
            raise ScenarioError(f"{at}: exactly one step kind ({', '.join(OPERATION_KINDS)}), found "
                                f"{', '.join(map(str, kinds)) or 'none'}")
        kind = kinds[0]
        if kind not in OPERATION_KINDS:
            raise ScenarioError(f"{at}: '{kind}' cannot run concurrently (one of {', '.join(OPERATION_KINDS)})")
        name = raw.get("name", f"op{j + 1}")
        if not isinstance(name, str):
            raise ScenarioError(f"{at}: field 'name': must be a string")
        safe_id(name, at, "name")
        if name in names:
            raise ScenarioError(f"{at}: name '{name}' is taken by another operation")
        names.append(name)
        process = raw.get("process", "imager" if kind == "imager" else "nc")
        if not isinstance(process, str):
            raise ScenarioError(f"{at}: field 'process': must be a string")
        safe_id(process, at, "process")
        if kind in ("imager", "node_command") and process == "nc":
            raise ScenarioError(f"{at}: {kind} is a program of its own: its process cannot be 'nc'")
        if kind == "restart_node" and process != "nc":
            raise ScenarioError(f"{at}: restart_node starts the node controller: its process is 'nc'")
        node = raw.get("node", "")
        if node and (not sc.nodes or node not in sc.nodes):
            raise ScenarioError(f"{at}: node '{node}' is not one of the scenario's nodes")
        if not isinstance(raw.get("may_fail", False), bool):
            raise ScenarioError(f"{at}: field 'may_fail': must be true or false")
        op_args = KINDS[kind].check(raw[kind] or {}, sc, f"{at} ({kind})")
        checked.append({"name": name, "process": process, "kind": kind, "args": op_args, "node": node,
                        "hold": raw.get("hold"), "may_fail": raw.get("may_fail", False), "where": at})
    restarts = {op["node"] for op in checked if op["kind"] == "restart_node"}
    if any(sum(op["process"] == "nc" and op["node"] == node for op in checked) > 1 for node in restarts):
        raise ScenarioError(f"{where}: a restart_node operation is the node controller starting: no other "
                            "operation can be a thread of the old one (give it another process)")
    for op in checked:
        if op["hold"] is not None:
            op["hold"] = _check_hold(op["hold"], names, op["name"], f"{op['where']}: hold")
    args = dict(args, operations=checked)
    args["schedule"] = _check_schedule(args.get("schedule"), names, where)
    return args


def _check_hold(hold, names, own, at):
    if not isinstance(hold, dict) or set(hold) - HOLD_FIELDS or "at" not in hold:
        raise ScenarioError(f"{at}: a mapping {{at: REGEX}} and either seconds: N or until: OPERATION with one "
                            "of reaches: REGEX, finishes: true, waits: true")
    if "seconds" in hold:
        value = hold["seconds"]
        if (set(hold) - {"at", "after", "seconds"} or not isinstance(value, (int, float))
                or isinstance(value, bool) or not 0 < value <= 86400):
            raise ScenarioError(f"{at}: seconds: a positive number of seconds (up to a day), with only 'at' and "
                                "'after'")
    if hold.get("after", True) is not True:
        raise ScenarioError(f"{at}: after: true (held just past the matching command) or left out")
    for key in ("at", "reaches"):
        if key in hold:
            if not isinstance(hold[key], str):
                raise ScenarioError(f"{at}: field '{key}': must be a string (a regex)")
            try:
                re.compile(hold[key])
            except re.error as exc:
                raise ScenarioError(f"{at}: field '{key}': bad regex: {exc}") from None
    if "seconds" in hold:
        return dict(hold)
    if "until" not in hold:
        raise ScenarioError(f"{at}: until: the operation whose progress releases the hold (or seconds: N)")
    if hold["until"] not in names or hold["until"] == own:
        raise ScenarioError(f"{at}: until '{hold['until']}' is not another operation of this step")
    conditions = [k for k in ("reaches", "finishes", "waits") if k in hold]
    if len(conditions) != 1 or any(hold[k] is not True for k in conditions if k != "reaches"):
        raise ScenarioError(f"{at}: one of reaches: REGEX, finishes: true, waits: true")
    return dict(hold)


def _check_schedule(schedule, names, where):
    at = f"{where}: schedule"
    if schedule is None:
        return None
    unknown = sorted(set(schedule) - {"seed", "preemptions", "horizon", "switches"})
    if unknown:
        raise ScenarioError(f"{at}: unknown field '{unknown[0]}'")
    if "switches" in schedule:
        if set(schedule) != {"switches"}:
            raise ScenarioError(f"{at}: switches is a schedule of its own (no seed, preemptions or horizon)")
        switches = schedule["switches"]
        if not isinstance(switches, list):
            raise ScenarioError(f"{at}: switches: a list of [DECISION, OPERATION] pairs")
        for j, pair in enumerate(switches):
            if (not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], int)
                    or isinstance(pair[0], bool) or pair[0] < 1 or not isinstance(pair[1], str)
                    or pair[1].split("/")[0] not in names):
                raise ScenarioError(f"{at}: switches[{j}]: [DECISION (from 1), OPERATION (a name above, or "
                                    "NAME/N for its build worker N)]")
        return schedule
    for key, low in (("seed", 0), ("preemptions", 0), ("horizon", 1)):
        if key in schedule and (not isinstance(schedule[key], int) or isinstance(schedule[key], bool)
                                or schedule[key] < low):
            raise ScenarioError(f"{at}: {key}: an integer of at least {low}")
    return schedule
