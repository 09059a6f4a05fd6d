"""A YAML file read for the harness's own inputs (trace expectations, inventories): any failure to read or parse
it is one line naming the file, and where in it when YAML says (`FILE:LINE:COLUMN: YAML error: ...`)."""
from __future__ import annotations

import yaml


def read_yaml(path: str, error: type[Exception]):
    """The document in `path`; raises `error` with the one line."""
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        raise error(f"{where}: YAML error: {exc.problem}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: YAML error: {exc}") from None
