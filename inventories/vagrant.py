"""The Vagrantfile's VMs, read from ``vagrant ssh-config`` (run ``vagrant up`` first).

Groups: ``ubuntu`` (jammy, noble) and ``debian`` (bookworm, trixie); a unit test checks that
they are the Vagrantfile's machines.
"""

import subprocess

GROUPS = {"ubuntu": ("jammy", "noble"), "debian": ("bookworm", "trixie")}
OPTIONS = {
    "HostName": "ssh_hostname",
    "User": "ssh_user",
    "Port": "ssh_port",
    "IdentityFile": "ssh_key",
}


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
        elif current is not None and key in OPTIONS:
            current[OPTIONS[key]] = int(value) if key == "Port" else value.strip('"')
    # Vagrant's boxes get fresh host keys on every `vagrant up`: accept the first one seen.
    for data in hosts.values():
        data["ssh_strict_host_key_checking"] = "accept-new"
    return hosts


_hosts = _ssh_config()
ubuntu = [(n, d) for n, d in _hosts.items() if n in GROUPS["ubuntu"]]
debian = [(n, d) for n, d in _hosts.items() if n in GROUPS["debian"]]
