"""The lab's hosts (after ``provision lab up``): groups ``lab``, ``bookworm`` and ``trixie``,
and ``extra`` for the extra hosts started with ``provision lab up --extra NAME``.

Logs in as the lab's non-root user with sudo, checks host keys against the lab's known_hosts,
and points the deploy at the lab's stand-in Docker repository and its signing key.
"""

from provision_lab.inventory import lab_groups

_groups = lab_groups()
lab = _groups["lab"]
bookworm = _groups.get("bookworm", [])
trixie = _groups.get("trixie", [])
extra = _groups.get("extra", [])
