"""`nc-harness report RUN_DIR --html`: one self-contained page (inline CSS and SVG, no scripts, no fetches)."""
from __future__ import annotations

import html
import re

from harness.checks.state import parse_dmsetup_ls, parse_dmsetup_table

PHASES = [  # (name, colour, pattern over an NC-format command)
    ("download", "#4e79a7", r"^/bin/cp /var/lib/nc-harness/images|^dd .*status=none"),
    ("copy", "#59a14f", r"^/bin/dd "),
    ("loop", "#bab0ac", r"^/sbin/losetup -(f|o)"),
    ("clone", "#f28e2b", r"dmsetup create"),
    ("mkfs", "#e15759", r"mkfs|mkswap|tune2fs"),
    ("key", "#b07aa1", r"^mount |^umount |/root/.ssh|^/bin/chown|^/bin/chmod"),
    ("parted", "#76b7b2", r"parted"),
    ("teardown", "#9c755f", r"dmsetup remove|losetup -d"),
]


def phase_of(text: str) -> tuple[str, str]:
    for name, colour, pattern in PHASES:
        if re.search(pattern, text):
            return name, colour
    return "other", "#cccccc"


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def timeline_svg(doc: dict) -> str:
    """A Gantt-style bar per instance: each command from its virtual start to the next command's."""
    cmds = doc["commands"]
    if not cmds:
        return "<p>No commands.</p>"
    t0, t1 = cmds[0]["when"], max(c["when"] for c in cmds) + 0.001
    lanes: dict[str, list] = {}
    current = "node"
    labels = {}
    for step in doc["steps"]:
        first, last = step["commands"]
        for i in range(first, min(last, len(cmds))):
            labels[i] = step["label"]
    for i, c in enumerate(cmds):
        m = re.search(r"\b(i-[0-9A-Za-z]+)\b", c["text"]) or re.search(r"\b(i-[0-9A-Za-z]+)\b", labels.get(i, ""))
        current = m.group(1) if m else "node"
        end = cmds[i + 1]["when"] if i + 1 < len(cmds) else c["when"] + 0.001
        lanes.setdefault(current, []).append((c["when"], max(end, c["when"] + 0.0002), c["text"], c["rc"]))
    width, lane_h, left = 900, 22, 110
    scale = (width - left - 10) / (t1 - t0)
    rows = []
    for n, (lane, bars) in enumerate(sorted(lanes.items())):
        y = 20 + n * lane_h
        rows.append(f'<text x="4" y="{y + 14}" class="lane">{_esc(lane)}</text>')
        for start, end, text, rc in bars:
            name, colour = phase_of(text)
            x = left + (start - t0) * scale
            w = max(1.0, (end - start) * scale)
            stroke = ' stroke="#d00" stroke-width="2"' if rc else ""
            rows.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{lane_h - 6}" fill="{colour}"{stroke}>'
                        f"<title>{_esc(name)}: {_esc(text)} (rc={rc})</title></rect>")
    legend = "".join(f'<span class="key" style="background:{c}"></span>{n} ' for n, c, _ in PHASES)
    height = 30 + len(lanes) * lane_h
    return (f'<svg class="timeline" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            + "".join(rows) + f"</svg><div class='legend'>{legend} (virtual time {t1 - t0:.3f} s)</div>")


def device_tree(snapshot: dict) -> str:
    """Top devices down to loops: disk -> its linear pieces -> snapshot -> origin/cow -> loop."""
    table = parse_dmsetup_table(snapshot.get("dmsetup table", ""))
    names = parse_dmsetup_ls(snapshot.get("dmsetup ls", ""))
    if not table:
        return "<p>No device-mapper devices.</p>"
    below: dict[str, list[str]] = {}
    for name, targets in table.items():
        for t in targets:
            for arg in t.args:
                if re.fullmatch(r"\d+:\d+", arg):
                    major, minor = arg.split(":")
                    child = names.get(arg) or (f"/dev/loop{minor}" if major == "7" else arg)
                    if child not in below.setdefault(name, []):
                        below[name].append(child)
    # parted/kpartx partition maps (NAMEpN, NAMEN) sit on their disk: list them with it, not above it
    partitions: dict[str, list[str]] = {}
    for name, kids in below.items():
        m = re.fullmatch(r"(.+?)p?(\d)", name)
        if m and kids == [m.group(1)] and m.group(1) in table:
            partitions.setdefault(m.group(1), []).append(name)
    parts = {p for ps in partitions.values() for p in ps}
    used = {c for n, kids in below.items() if n not in parts for c in kids}
    roots = sorted(n for n in table if n not in used and n not in parts)

    def render(name: str, depth: int) -> str:
        kind = " ".join(sorted({t.type for t in table.get(name, [])})) or "loop"
        kids = below.get(name, [])
        inner = "".join(render(k, depth + 1) for k in kids) if depth < 8 else ""
        plist = ", ".join(sorted(partitions.get(name, [])))
        return (f"<li><span class='dev {kind.split()[0]}'>{_esc(name)}</span> <small>{_esc(kind)}</small>"
                + (f" <small class='parts'>partitions: {_esc(plist)}</small>" if plist else "")
                + (f"<ul>{inner}</ul>" if inner else "") + "</li>")
    return "<ul class='tree'>" + "".join(render(r, 0) for r in roots) + "</ul>"


def busiest_snapshot(doc: dict) -> dict:
    snaps = doc.get("snapshots") or {}
    if not snaps:
        return {}
    return max(snaps.values(), key=lambda s: len(s.get("dmsetup table", "").splitlines()))


CSS = """body{font:14px sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;
padding:4px 8px;text-align:left}.pass{color:#170}.fail{color:#c00;font-weight:bold}.lane{font:11px monospace}
.key{display:inline-block;width:12px;height:12px;margin:0 3px 0 10px;vertical-align:middle}
ul.tree,ul.tree ul{list-style:none;padding-left:1.2em;border-left:1px dotted #aaa}.dev{font-family:monospace}
.snapshot{color:#a40}.zero{color:#888}.linear{color:#035}pre{background:#f6f6f6;padding:8px;overflow:auto}"""


def render_html(docs: list[dict]) -> str:
    rows = "".join(
        f"<tr><td><a href='#{_esc(d['name'])}'>{_esc(d['name'])}</a></td>"
        f"<td class='{'pass' if d['ok'] else 'fail'}'>{'PASS' if d['ok'] else 'FAIL'}</td>"
        f"<td>{sum(s['status'] == 'passed' for s in d['steps'])}/{len(d['steps'])}</td><td>{len(d['commands'])}</td>"
        f"<td>{d['virtual_seconds']:.3f}</td><td>{d['wall_seconds']:.2f}</td><td>{_esc(d['dialect'])}</td>"
        f"<td>{d['seed']}</td><td>{_esc(d['failure'])}</td></tr>" for d in docs)
    sections = []
    for d in docs:
        steps = "".join(f"<tr><td>{s['index']}</td><td>{_esc(s['label'])}</td>"
                        f"<td class='{'pass' if s['status'] == 'passed' else 'fail'}'>{s['status']}</td>"
                        f"<td>{_esc(s['message'])}</td></tr>" for s in d["steps"])
        diffs = "".join(f"<li>{_esc(x)}</li>" for x in (d["details"] or []))
        sections.append(
            f"<h2 id='{_esc(d['name'])}'>{_esc(d['name'])}</h2><p>{_esc(d['path'])} · digest {d['digest'][:16]}</p>"
            f"<h3>Timeline</h3>{timeline_svg(d)}<h3>Steps</h3><table><tr><th>#</th><th>step</th><th>status</th>"
            f"<th>message</th></tr>{steps}</table>"
            f"<h3>Device stack (busiest point)</h3>{device_tree(busiest_snapshot(d))}"
            + (f"<h3>State differences</h3><ul class='diff'>{diffs}</ul>" if diffs else ""))
    passed = sum(d["ok"] for d in docs)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>nc-harness report</title>"
            f"<style>{CSS}</style></head><body><h1>nc-harness: {passed}/{len(docs)} scenarios passed</h1>"
            "<table id='summary'><tr><th>scenario</th><th>result</th><th>steps</th><th>commands</th>"
            "<th>virtual s</th><th>wall s</th><th>dialect</th><th>seed</th><th>first failure</th></tr>"
            f"{rows}</table>{''.join(sections)}</body></html>\n")
