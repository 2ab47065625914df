"""The Vagrantfile's VMs, read from ``vagrant ssh-config`` (run ``vagrant up`` first).

Groups: ``ubuntu`` (jammy, noble) and ``debian`` (bookworm, trixie).
"""

import subprocess


def _ssh_config() -> dict[str, dict]:
    try:
        text = subprocess.run(
            ["vagrant", "ssh-config"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    hosts, current = {}, None
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "Host":
            current = hosts.setdefault(value, {"_sudo": True})
        elif current is not None and key in ("HostName", "User", "Port", "IdentityFile"):
            name = {
                "HostName": "ssh_hostname",
                "User": "ssh_user",
                "Port": "ssh_port",
                "IdentityFile": "ssh_key",
            }[key]
            current[name] = int(value) if key == "Port" else value.strip('"')
    # Vagrant's boxes get fresh host keys on every `vagrant up`: accept the first one seen.
    for data in hosts.values():
        data["ssh_strict_host_key_checking"] = "accept-new"
    return hosts


_hosts = _ssh_config()
ubuntu = [(n, d) for n, d in _hosts.items() if n in ("jammy", "noble")]
debian = [(n, d) for n, d in _hosts.items() if n in ("bookworm", "trixie")]
