"""Files a run writes at its end (``--report``, ``--junit``), checked at its start, so that a
path that cannot be written is found before any host changes."""

from __future__ import annotations

import os
from pathlib import Path

from provision.core.errors import UsageError


def check(option: str, path: str | None) -> None:
    """``path`` can be written by this run: not a directory, in an existing writable one."""
    if not path:
        return
    file = Path(path)
    folder = file.parent if str(file.parent) else Path(".")
    if file.is_dir():
        raise UsageError(f"{option} {path} is a directory; pass a file name.")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: directory {folder} does not exist; create it first.")
    if file.exists() and not os.access(file, os.W_OK):
        raise UsageError(f"{option} {path} cannot be written; pass another file.")
    if not file.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: directory {folder} cannot be written; pass another.")


def check_all(**paths: str | None) -> None:
    """``check`` each ``option_name=path`` (``report_file`` is ``--report``)."""
    for name, path in paths.items():
        option = "--" + name.removesuffix("_file").replace("_", "-")
        check(option, path)
