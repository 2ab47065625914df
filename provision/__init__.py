"""Turn Ubuntu/Debian fleets into verified Docker hosts with pyinfra and testinfra."""

# pyinfra runs on gevent, and its API wants the standard library patched before anything else
# is imported (its own CLI does the same first thing). Patching later, as loading an inventory
# would, leaves paramiko's and invoke's thread classes half real: fabric's commands then hang.
from gevent import monkey

monkey.patch_all()
