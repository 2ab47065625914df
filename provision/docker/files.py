"""The one way this project writes a file on a host: its bytes on standard input, never on a
command line (which every local user reads in ``ps``), into place atomically.

A command may write several files: each ``writer`` takes the next line of standard input
(``stdin_line``: the file's bytes in base64 on one line), so one input carries them in order.
"""

from __future__ import annotations

import base64
import posixpath
import shlex

from pyinfra.api import StringCommand


def writer(path: str, mode: str) -> str:
    """Shell commands writing the next line of standard input, decoded, to ``path``.

    The bytes go to a root-only temporary file beside ``path``, which gets ``mode`` and owner
    root and is moved into place once the whole line came (a dropped connection ends the input
    before its newline, and ``read`` fails): a failed write leaves at most that temporary file,
    never a half-written ``path``. A missing directory is made (0755); an existing one keeps
    its mode.
    """
    directory = shlex.quote(posixpath.dirname(path) or ".")
    tmp, quoted = shlex.quote(f"{path}.provision-tmp"), shlex.quote(path)
    return (
        f"{{ [ -d {directory} ] || install -d -m 0755 {directory}; }} && "
        f"install -m 0600 /dev/null {tmp} && "
        f'IFS= read -r line && printf %s "$line" | base64 -d > {tmp} && '
        f"chmod {shlex.quote(mode)} {tmp} && chown root:root {tmp} && mv -f {tmp} {quoted}"
    )


def stdin_line(content: bytes) -> str:
    """What ``writer`` reads for ``content``: one line of base64."""
    return base64.b64encode(content).decode() + "\n"


def write_file(path: str, content: bytes, mode: str) -> list[StringCommand]:
    """The command writing ``content`` to ``path`` atomically, owned by root with ``mode``."""
    return [StringCommand(writer(path, mode), _stdin=stdin_line(content))]
