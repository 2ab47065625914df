"""The package's structure: imports go one way, from higher layers to lower ones, with no cycle;
pyinfra's, testinfra's, gevent's and invoke's internals are named in ``provision.core.compat``
alone; no module is over 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

from .imports import graph, modules

# lowest first: a module may import its own layer and the layers before it
LAYERS = (
    "provision.core",
    "provision.ssh",
    "provision.orchestrate",
    "provision.report",
    "provision.docker",
    "provision.profiles",
    "provision.verify",
    "provision.audit",
    "provision_lab",
    "provision.cli",
    "provision.__main__",
)
ROOTS = {"provision", "provision_lab"}  # the packages themselves: nothing in them to import


def layer(module: str) -> int:
    """The index in ``LAYERS`` of the layer ``module`` belongs to."""
    found = [i for i, name in enumerate(LAYERS) if module == name or module.startswith(name + ".")]
    assert found, f"{module} is in no layer: add its package to LAYERS"
    return found[-1]


def test_every_module_is_in_a_layer():
    for name in modules():
        if name not in ROOTS:
            layer(name)


def test_no_module_imports_a_higher_layer():
    upward = [
        f"{name} imports {target}"
        for name, targets in sorted(graph().items())
        if name not in ROOTS
        for target in sorted(targets - ROOTS)
        if layer(target) > layer(name)
    ]
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_import_graph_has_no_cycle():
    edges = {name: targets - ROOTS for name, targets in graph().items() if name not in ROOTS}
    assert cycles(edges) == []


def test_cycles_are_found():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# what the libraries do not promise: modules, and names of attributes and functions
INTERNAL_MODULES = (
    "pyinfra_cli",
    "pyinfra.api.util",
    "pyinfra.api.arguments",
    "pyinfra.connectors.sshuserclient",
    "testinfra.plugin",
    "testinfra.backend",
    "gevent",
    "invoke.util",
)
INTERNAL_NAMES = {
    "operation_meta",
    "StateStage",
    "op_hash_order",
    "_get_module",
    "_inner",
    "NOT_ERROR",
    "get_hub",
    "monkey",
    "ExceptionHandlingThread",
    "_testinfra_host",
    "connector_cls",
    "all_global_arguments",
    "provision_run",  # this package's own slot on pyinfra's Host
}
INTERNAL_ATTRIBUTES = {"ops"}  # pyinfra's State.ops (a module may well be called ops)
COMPAT = "provision.core.compat"


def internals(tree: ast.AST) -> set[str]:
    """The internal modules and names that ``tree`` names."""
    imported: set[str] = set()
    named: set[str] = set()  # names, and strings (``getattr(x, "name")``)
    attributes: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            imported.add(node.module or "")
            imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Attribute):
            attributes.add(node.attr)
        elif isinstance(node, ast.Name):
            named.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named.add(node.value)
    modules_named = {
        name
        for name in imported
        for internal in INTERNAL_MODULES
        if name == internal or name.startswith(internal + ".")
    }
    names = {name.rpartition(".")[2] for name in imported} | named | attributes
    return (
        modules_named
        | (names & INTERNAL_NAMES)
        | (attributes & (INTERNAL_NAMES | INTERNAL_ATTRIBUTES))
    )


def test_only_compat_names_library_internals():
    outside = {
        name: sorted(found)
        for name, path in modules().items()
        if name != COMPAT and (found := internals(ast.parse(path.read_text())))
    }
    assert not outside, f"move these into {COMPAT}: {outside}"


def test_the_internals_check_finds_each_kind_of_use():
    source = (
        "import gevent\n"
        "from pyinfra_cli.inventory import make_inventory\n"
        "x = state.ops[host]\n"
        "host.op_hash_order = []\n"
        "getattr(item, '_testinfra_host')\n"
    )
    assert internals(ast.parse(source)) == {
        "gevent",
        "pyinfra_cli.inventory",
        "pyinfra_cli.inventory.make_inventory",
        "ops",
        "op_hash_order",
        "_testinfra_host",
    }
    harmless = "from . import operations as ops\nops.noop('x')\nlogger = 'gevent'\n"
    assert internals(ast.parse(harmless)) == set()


def test_the_tool_ships_without_the_lab():
    """The wheel holds ``provision`` alone; ``provision_lab`` is a distribution of its own
    (``lab/``), which the ``lab`` extra asks for, and the command works without it."""
    import subprocess
    import sys
    import tomllib

    from .imports import ROOT

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["packages"]["find"]["include"] == ["provision*"]
    assert not (ROOT / "provision_lab").exists() and not (ROOT / "provision" / "lab").exists()
    lab = tomllib.loads((ROOT / "lab" / "pyproject.toml").read_text())["project"]
    extra = project["project"]["optional-dependencies"]["lab"]
    assert [lab["name"]] == [requirement.split(">")[0] for requirement in extra]
    without_lab = (
        "import sys; sys.modules['provision_lab'] = None\n"  # as if it were not installed
        "sys.argv = ['provision', '--help']\n"
        "from provision.cli import main; main()\n"
    )
    done = subprocess.run([sys.executable, "-c", without_lab], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    commands = {line.split()[0] for line in done.stdout.split("Commands:")[1].splitlines() if line}
    assert commands == {"apply", "audit", "bootstrap", "exec", "status", "uninstall", "verify"}


def test_every_import_of_the_packages_own_names_resolves():
    """Imports inside functions run late: each one that names this package's modules must find
    what it names (a module moved or split fails here, not in the middle of a run)."""
    import importlib

    from .imports import PACKAGES

    missing = []
    for name, path in modules().items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            if base.split(".")[0] not in PACKAGES:
                continue
            module = importlib.import_module(base)
            for alias in node.names:
                found = hasattr(module, alias.name)
                if not found:
                    try:
                        importlib.import_module(f"{base}.{alias.name}")
                        found = True
                    except ImportError:
                        pass
                if not found:
                    missing.append(f"{name}: from {base} import {alias.name}")
    assert not missing, "\n".join(missing)


MAX_LINES = 500  # a module longer than this holds more than one concern: split it along a seam


def too_long(paths: dict[str, Path], limit: int = MAX_LINES) -> dict[str, int]:
    """The modules among ``paths`` of more than ``limit`` lines, with their lengths."""
    lengths = {name: len(path.read_text().splitlines()) for name, path in paths.items()}
    return {name: count for name, count in sorted(lengths.items()) if count > limit}


def test_no_module_is_over_500_lines():
    found = modules()
    assert any(name.startswith("provision_lab.") for name in found), "the lab's modules are read"
    assert not too_long(found), (
        f"split these modules, each over {MAX_LINES} lines: {too_long(found)}"
    )


def test_a_module_over_500_lines_is_found(tmp_path):
    short, long = tmp_path / "short.py", tmp_path / "long.py"
    short.write_text("x = 1\n" * MAX_LINES)
    long.write_text("x = 1\n" * (MAX_LINES + 1))
    assert too_long({"short": short, "long": long}) == {"long": MAX_LINES + 1}
