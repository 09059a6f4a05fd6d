"""One JUnit file per node: the merged report pytest-xdist writes, split by each test case's `backend` property
(the node it ran on), into `BASE-NAME.xml` beside it."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET


def split_by_node(junit: str, names: dict[str, str]) -> dict[str, str]:
    """`names`: backend target -> node name. Returns node name -> the file written (one per node, even empty)."""
    tree = ET.parse(junit)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    cases: dict[str, list] = {name: [] for name in names.values()}
    for suite in suites:
        for case in suite.iter("testcase"):
            props = {p.get("name"): p.get("value") for p in case.iter("property")}
            node = names.get(props.get("backend", ""))
            if node is not None:
                cases[node].append(case)
    base = os.path.splitext(junit)[0]
    out = {}
    for node, members in cases.items():
        suite = ET.Element("testsuite", name=f"nc-harness nightly on {node}", tests=str(len(members)),
                           failures=str(sum(c.find("failure") is not None for c in members)),
                           errors=str(sum(c.find("error") is not None for c in members)),
                           skipped=str(sum(c.find("skipped") is not None for c in members)))
        suite.extend(members)
        path = f"{base}-{node}.xml"
        doc = ET.Element("testsuites")
        doc.append(suite)
        ET.ElementTree(doc).write(path, encoding="utf-8", xml_declaration=True)
        out[node] = path
    return out
