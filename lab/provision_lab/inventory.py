"""Host data for pyinfra inventories of the lab (used by ``inventories/lab.py``)."""

from __future__ import annotations

import json

from .config import EXTRA_HOSTS, LabConfig


def lab_groups(config: LabConfig | None = None) -> dict[str, list[tuple[str, dict]]]:
    """Groups ``lab`` and one per suite of lab1..labN, and ``extra`` of the extra hosts that
    run: ``[(name, data), ...]``; empty when the lab is down."""
    config = config or LabConfig.from_env()
    try:
        state = json.loads(config.state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"lab": []}
    repo, image = state.get("repo", {}), state.get("image", {})
    groups: dict[str, list[tuple[str, dict]]] = {"lab": []}
    for name, info in sorted(state.get("hosts", {}).items()):
        data = {
            "ssh_hostname": info["address"],
            "ssh_user": config.user,
            "ssh_key": str(config.key_file),
            "ssh_known_hosts_file": str(config.known_hosts),
            "ssh_strict_host_key_checking": "yes",
            "_sudo": True,
            "lab_suite": info["suite"],
            # The stand-in Docker repository of the lab, signed by the lab's own key
            "docker_repo_url": repo.get("url"),
            "docker_gpg_fingerprint": repo.get("fingerprint"),
            "docker_verify_image": image.get("reference"),
            "docker_verify_image_url": image.get("url"),
            "docker_verify_image_sha256": image.get("sha256"),
            "docker_verify_output": image.get("output"),
        }
        if name in EXTRA_HOSTS:  # never in a run over the default lab's groups
            groups.setdefault("extra", []).append((name, data))
            continue
        groups["lab"].append((name, data))
        groups.setdefault(info["suite"], []).append((name, data))
    return groups
