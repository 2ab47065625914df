"""An example inventory: groups, an SSH user and key, sudo, and per-group Docker settings.

Run with ``provision apply -i inventories/example.py --dry`` after replacing the hosts.
"""

web = (
    ["web1.example.com", "web2.example.com"],
    {
        "ssh_user": "ubuntu",
        "ssh_key": "~/.ssh/id_ed25519",
        "_sudo": True,
        "docker_users": ["deploy"],
    },
)

ci_runners = (
    [
        ("runner1", {"ssh_hostname": "10.20.0.11"}),
        ("runner2", {"ssh_hostname": "10.20.0.12"}),
    ],
    {
        "ssh_user": "admin",
        "_sudo": True,
        # private addresses reached through a bastion named in ~/.ssh/config (ProxyJump)
        "ssh_config_file": "~/.ssh/config",
        "docker_version": "27.5.1",
        "docker_hold": True,
        "docker_daemon_options": {"log-driver": "json-file", "log-opts": {"max-size": "10m"}},
    },
)
