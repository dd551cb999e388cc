"""Imports run one way: every module imports only its own layer and the layers below, and no
imports form a cycle.

The check walks the source with :mod:`ast` (nothing is imported): every ``import`` and ``from ...
import`` statement, function-local and ``TYPE_CHECKING`` ones included, relative ones resolved.
A ``from package import name`` counts as an import of ``package.name`` where that is a module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "umust_hf"
SOURCE = Path(__file__).resolve().parents[1] / "src" / PACKAGE

#: Lowest first. A module may import modules of its own layer and of the layers below it. The
#: key of a module is the first name under the package (``umust_hf.data.corpora`` -> ``data``;
#: the package's own ``__init__`` -> ``__init__``).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("_version", "_lazy", "constants", "errors", "io_utils"),
    ("modeling",),
    ("vocabulary",),
    ("processing",),
    ("registration",),
    ("data",),
    ("evaluation", "ytsv", "model_card"),
    ("training", "translation"),
    ("demo",),
    ("commands",),
    ("cli", "__init__"),
    ("__main__",),
)

#: Import cycles that are known and tolerated, each the set of its modules. Remove an entry once
#: its cycle is gone (test_each_allowed_cycle_still_exists says when).
ALLOWED_CYCLES: frozenset[frozenset[str]] = frozenset()


@dataclass(frozen=True)
class Import:
    target: str  # the imported module, resolved (a module of the package, or the name as written)
    line: int
    relative_level: int  # 0: absolute


def module_name(path: Path, root: Path = SOURCE, package: str = PACKAGE) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_files(root: Path = SOURCE) -> dict[str, Path]:
    return {module_name(path, root): path for path in sorted(root.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """``from <level dots><name> import ...`` inside ``module`` -> the absolute module name."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *([name] if name else [])])


def _nearest_module(name: str, modules: Iterable[str]) -> str:
    """``name`` or its longest prefix that is a module (``a.b.c`` names attribute ``c`` of ``a.b``)."""
    modules = set(modules)
    parts = name.split(".")
    for stop in range(len(parts), 0, -1):
        if ".".join(parts[:stop]) in modules:
            return ".".join(parts[:stop])
    return name


def imports_of(module: str, path: Path, modules: Iterable[str], package: str = PACKAGE) -> list[Import]:
    """The package-internal imports of one module's source, anywhere in it."""
    modules = set(modules)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    found.append(Import(_nearest_module(alias.name, modules), node.lineno, 0))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _resolve(module, path.name == "__init__.py", node.level, node.module)
            else:
                base = node.module or ""
            if not (base == package or base.startswith(package + ".")):
                continue
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                target = submodule if submodule in modules else _nearest_module(base, modules)
                found.append(Import(target, node.lineno, node.level))
    return found


def import_map(files: Mapping[str, Path] | None = None) -> dict[str, list[Import]]:
    files = module_files() if files is None else files
    return {module: imports_of(module, path, files) for module, path in files.items()}


def layer_key(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def layer_of(module: str, layers: tuple[tuple[str, ...], ...] = LAYERS) -> int:
    key = layer_key(module)
    for index, layer in enumerate(layers):
        if key in layer:
            return index
    raise KeyError(f"{module}: {key!r} is in no layer; add it to LAYERS in {Path(__file__).name}")


def unknown_imports(imports: Mapping[str, list[Import]]) -> list[str]:
    return [f"{module}:{imp.line} imports {imp.target}, which is no module of the package"
            for module, found in imports.items() for imp in found if imp.target not in imports]


def layer_violations(imports: Mapping[str, list[Import]],
                     layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[str]:
    """``module:line imports target`` for every import of a higher layer."""
    problems = []
    for module, found in sorted(imports.items()):
        for imp in found:
            if imp.target in imports and layer_of(imp.target, layers) > layer_of(module, layers):
                problems.append(f"{module}:{imp.line} imports {imp.target} "
                                f"(layer {layer_key(imp.target)!r} is above {layer_key(module)!r})")
    return problems


def remote_code_modules(imports: Mapping[str, list[Import]], sources: Mapping[str, str]) -> set[str]:
    """Modules whose source calls ``register_for_auto_class`` and every module they import, transitively:
    the files ``push_to_hub`` copies beside a checkpoint as its remote code."""
    todo = [module for module, text in sources.items() if "register_for_auto_class(" in text]
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [imp.target for imp in imports.get(module, ()) if imp.target in imports]
    return seen


def remote_code_violations(imports: Mapping[str, list[Import]], remote: Iterable[str]) -> list[str]:
    """Remote-code modules may import only their siblings, and only as ``from .sibling import``."""
    problems = []
    for module in sorted(remote):
        package = module.rsplit(".", 1)[0]
        for imp in imports[module]:
            if imp.target.rsplit(".", 1)[0] != package or imp.relative_level != 1:
                problems.append(f"{module}:{imp.line} imports {imp.target} (remote code imports only "
                                f"`from .sibling import` within {package})")
    return problems


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[frozenset[str]]:
    """Tarjan's algorithm (iterative): every component of more than one node, or a node importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    edges = {node: sorted(set(targets)) for node, targets in graph.items()}
    for node in list(edges):
        for target in edges[node]:
            edges.setdefault(target, [])
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            node, child = work.pop()
            if child == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            for position in range(child, len(edges[node])):
                target = edges[node][position]
                if target not in index:
                    work.append((node, position + 1))
                    work.append((target, 0))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1 or node in edges[node]:
                        components.append(frozenset(component))
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
    return components


def import_cycles(imports: Mapping[str, list[Import]]) -> list[frozenset[str]]:
    graph = {module: [imp.target for imp in found if imp.target in imports] for module, found in imports.items()}
    return strongly_connected_components(graph)


# ---------------------------------------------------------------------------------------------- the package


@pytest.fixture(scope="module")
def package_imports() -> dict[str, list[Import]]:
    return import_map()


def test_the_walk_sees_the_package(package_imports):
    assert len(package_imports) > 100 and "umust_hf.modeling.modeling_umust" in package_imports
    # a function-local import is seen (source_reliance imports the collator inside a function)
    assert any(imp.target == "umust_hf.data.collator"
               for imp in package_imports["umust_hf.evaluation.source_reliance"])


def test_every_module_is_in_a_layer(package_imports):
    for module in package_imports:
        layer_of(module)


def test_every_internal_import_names_a_module_of_the_package(package_imports):
    assert unknown_imports(package_imports) == []


def test_imports_respect_the_layer_order(package_imports):
    problems = layer_violations(package_imports)
    assert not problems, "imports against the layer order (see LAYERS):\n" + "\n".join(problems)


def test_remote_code_modeling_files_import_only_their_siblings(package_imports):
    sources = {module: path.read_text(encoding="utf-8") for module, path in module_files().items()}
    remote = remote_code_modules(package_imports, sources)
    assert "umust_hf.modeling.modeling_umust" in remote and "umust_hf.modeling.configuration_umust" in remote
    assert all(module.startswith("umust_hf.modeling.") for module in remote), sorted(remote)
    assert remote_code_violations(package_imports, remote) == []


def test_no_import_cycles_but_the_allowed_ones(package_imports):
    cycles = [sorted(cycle) for cycle in import_cycles(package_imports) if cycle not in ALLOWED_CYCLES]
    assert not cycles, f"import cycles (modules importing each other, directly or around a loop): {cycles}"


@pytest.mark.parametrize("cycle", sorted(ALLOWED_CYCLES, key=sorted), ids=lambda cycle: "+".join(sorted(cycle)))
def test_each_allowed_cycle_still_exists(package_imports, cycle):
    assert cycle in import_cycles(package_imports), (
        f"the import cycle {sorted(cycle)} is gone: delete its entry from ALLOWED_CYCLES in {Path(__file__).name}"
    )


# ---------------------------------------------------------------------------------------------- the checker


def _fake_package(tmp_path: Path, files: dict[str, str]) -> dict[str, list[Import]]:
    root = tmp_path / PACKAGE
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return import_map(module_files(root))


def test_the_checker_catches_an_upward_import_even_inside_a_function(tmp_path):
    imports = _fake_package(tmp_path, {
        "__init__.py": "",
        "constants.py": "",
        "modeling/__init__.py": "",
        "modeling/model.py": "from ..constants import X\n\ndef f():\n    from ..data import loader\n",
        "data/__init__.py": "",
        "data/loader.py": "from umust_hf.modeling.model import f\n",
    })
    assert [imp.target for imp in imports["umust_hf.modeling.model"]] == ["umust_hf.constants",
                                                                          "umust_hf.data.loader"]
    assert layer_violations(imports) == [
        "umust_hf.modeling.model:4 imports umust_hf.data.loader (layer 'data' is above 'modeling')"
    ]
    assert unknown_imports(imports) == []


def test_the_checker_catches_a_remote_code_import_outside_modeling(tmp_path):
    imports = _fake_package(tmp_path, {
        "constants.py": "",
        "modeling/__init__.py": "",
        "modeling/model.py": "from .config import C\nC.register_for_auto_class()\n",
        "modeling/config.py": "from ..constants import X\n",
        "modeling/codec.py": "from ..constants import X\n",  # not remote code: allowed
    })
    sources = {module: path.read_text() for module, path in module_files(tmp_path / PACKAGE).items()}
    remote = remote_code_modules(imports, sources)
    assert remote == {"umust_hf.modeling.model", "umust_hf.modeling.config", "umust_hf.constants"}
    assert remote_code_violations(imports, remote) == [
        "umust_hf.modeling.config:1 imports umust_hf.constants (remote code imports only "
        "`from .sibling import` within umust_hf.modeling)"
    ]


def test_the_checker_catches_a_three_module_cycle_and_a_self_import():
    def imports(graph: dict[str, list[str]]) -> dict[str, list[Import]]:
        return {module: [Import(target, 1, 1) for target in targets] for module, targets in graph.items()}

    fake = imports({"umust_hf.data.a": ["umust_hf.data.b"], "umust_hf.data.b": ["umust_hf.data.c"],
                    "umust_hf.data.c": ["umust_hf.data.a", "umust_hf.errors"], "umust_hf.errors": [],
                    "umust_hf.data.d": ["umust_hf.data.a", "umust_hf.data.d"]})
    assert sorted(map(sorted, import_cycles(fake))) == [
        ["umust_hf.data.a", "umust_hf.data.b", "umust_hf.data.c"], ["umust_hf.data.d"]]
    assert import_cycles(imports({"umust_hf.data.a": ["umust_hf.data.b"], "umust_hf.data.b": []})) == []
    assert layer_violations(fake) == []
