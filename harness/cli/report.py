"""`nc-harness report RUN_DIR --html [-o FILE]`: a self-contained HTML page of a run directory."""
from __future__ import annotations

import os
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="render a run directory (from `run --run-dir`) as one HTML page")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `run --run-dir` or the pytest plugin")
    p.add_argument("--html", action="store_true", required=True, help="write an HTML page (the only format)")
    p.add_argument("-o", "--output", help="default: RUN_DIR/report.html")
    p.set_defaults(run=run)


def run(args) -> int:
    from harness.report.html import render_html
    from harness.report.rundir import RunDirError, load_results
    try:
        docs = load_results(args.run_dir)
    except RunDirError as exc:
        print(f"nc-harness report: {exc}", file=sys.stderr)
        return 2
    out = args.output or os.path.join(args.run_dir, "report.html")
    try:
        with open(out, "w") as fh:
            fh.write(render_html(docs))
    except OSError as exc:
        print(f"nc-harness report: {out}: cannot write: {exc.strerror}", file=sys.stderr)
        return 2
    print(out)
    return 0
