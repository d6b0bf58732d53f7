"""The import rule of the project, checked on the source (ast, nothing is imported).

Imports flow one way: entry points (main.py, eval_fid.py, generate.py, bench/) -> training/ ->
generation/ -> fid/ -> data/, models/, losses/ -> geometry/, rng/ -> configs/, fileio/. A package imports
only packages of a lower rank (its own modules aside), no module-level circle exists even through
imports inside functions, and no module imports another module's private (_underscore) names.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENTRY_POINTS = {"main", "eval_fid", "generate", "bench"}
RANK = {
    "configs": 0,
    "fileio": 0,
    "geometry": 1,
    "rng": 1,
    "data": 2,
    "models": 2,
    "losses": 2,
    # FID reference images go through data/'s CelebA box and pixel scaling.
    "fid": 3,
    "generation": 4,
    "training": 5,
    **{name: 6 for name in ENTRY_POINTS},
}


def project_modules(root: pathlib.Path) -> dict[str, pathlib.Path]:
    """Dotted module name -> file, for every .py of the project packages and entry points."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if (rel.parts[0] if len(rel.parts) > 1 else rel.stem) not in RANK:
            continue
        name = ".".join(rel.with_suffix("").parts)
        modules[name.removesuffix(".__init__")] = path
    return modules


def imports_of(path: pathlib.Path, modules: dict) -> list[tuple[str, str | None, int]]:
    """(imported project module, imported name or None, line) of every import statement, at any depth."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:  # `from pkg import module`
                    found.append((f"{node.module}.{alias.name}", None, node.lineno))
                else:
                    found.append((node.module, alias.name, node.lineno))
    return [(m, n, line) for m, n, line in found if m.split(".")[0] in RANK]


def private_attribute_uses(path: pathlib.Path, modules: dict) -> list[str]:
    """`alias._name` where alias is a project module imported into this file."""
    tree = ast.parse(path.read_text(), str(path))
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname and a.name in modules})
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                if f"{node.module}.{a.name}" in modules:
                    aliases[a.asname or a.name] = f"{node.module}.{a.name}"
    return [
        f"{path.name}:{node.lineno} {node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in aliases
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
    ]


def violations(root: pathlib.Path) -> dict[str, list[str]]:
    modules = project_modules(root)
    layering, private, graph = [], [], {m: set() for m in modules}
    for name, path in modules.items():
        package = name.split(".")[0]
        for target, imported, line in imports_of(path, modules):
            where = f"{path.relative_to(root)}:{line}"
            target_package = target.split(".")[0]
            if target_package != package and RANK[target_package] >= RANK[package]:
                layering.append(f"{where} {package} -> {target_package}")
            if imported is not None and imported.startswith("_") and not imported.startswith("__"):
                private.append(f"{where} {target}.{imported}")
            resolved = target
            while resolved and resolved not in modules:
                resolved = resolved.rpartition(".")[0]
            if resolved and resolved != name:
                graph[name].add(resolved)
        private += private_attribute_uses(path, modules)
    return {"layering": layering, "private": private, "cycles": cycles(graph)}


def cycles(graph: dict[str, set]) -> list[str]:
    """One 'a -> b -> ... -> a' per strongly connected component with more than one module (or a self-loop)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(" <-> ".join(sorted(component)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_project_imports_flow_one_way_without_private_names():
    found = violations(ROOT)
    assert found == {"layering": [], "private": [], "cycles": []}
    # The check did see the project (a wrong ROOT would pass vacuously).
    assert {"training.step", "generation.restore", "data.pipeline", "rng.streams"} <= set(project_modules(ROOT))


def _write_tree(root: pathlib.Path, files: dict) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_check_reports_each_kind_of_violation(tmp_path):
    _write_tree(
        tmp_path,
        {
            "configs/__init__.py": "",
            "data/__init__.py": "",
            "data/pipeline.py": "from data import tfds_source\n",
            "data/tfds_source.py": "def f():\n    from data.pipeline import SHUFFLE\n",
            "generation/__init__.py": "",
            "generation/restore.py": "def g():\n    from training.state import make_optimizers\n",
            "training/__init__.py": "",
            "training/state.py": "import generation.restore\n",
            "training/extrapolation.py": "from training.step import _global_slice\n",
            "training/step.py": "from training import state as s\nx = s._hidden\n",
            "main.py": "import training.state\n",  # entry points may import anything
        },
    )
    found = violations(tmp_path)
    assert found["layering"] == ["generation/restore.py:2 generation -> training"]
    assert found["private"] == ["training/extrapolation.py:1 training.step._global_slice", "step.py:2 s._hidden"]
    assert found["cycles"] == [
        "data.pipeline <-> data.tfds_source",
        "generation.restore <-> training.state",
    ]
