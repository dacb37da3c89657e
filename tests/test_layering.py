"""Imports inside `lcnet_tf/` flow one way: down the layers, never in a cycle, never to the root.

Every module is parsed with `ast` (every import, including those inside functions, so a lazy
import cannot hide a back edge or a cycle) and mapped to a layer by `LAYERS`.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = "lcnet_tf"
PACKAGE_DIR = Path(__file__).resolve().parents[1] / PACKAGE

# Module or package of lcnet_tf -> (rank, layer); the longest matching prefix wins. A module
# may import its own layer and any layer of lower rank; layers of equal rank are siblings and
# never import each other (models and data; training and export). The package root
# (`lcnet_tf/__init__.py`) is above everything: it re-exports the public API, and nothing
# inside lcnet_tf imports it, neither `import lcnet_tf` nor `from lcnet_tf import x`.
LAYERS = {
    # Pure maths and contracts: TensorFlow, Keras and NumPy only.
    "lcnet_tf.ops": (0, "ops"),
    "lcnet_tf.compat": (0, "ops"),  # the private TF/Keras APIs we use, with their reasons
    "lcnet_tf.deployment": (0, "ops"),  # the batch-1 IF graph and its export contract
    "lcnet_tf.pareto": (0, "pareto"),  # accuracy-cost frontiers over plain records (NumPy)
    "lcnet_tf.budget_table": (0, "ops"),  # the knob file's table and its one lookup rule
    # Keras layers that own weights and call the ops.
    "lcnet_tf.layers": (1, "layers"),
    "lcnet_tf.gate_control": (1, "layers"),  # gate overrides over any model's gate layers
    # The cost unit: FLOPs rules, cost table, CostModel; `flops` is its public face.
    "lcnet_tf.cost": (2, "cost"),
    "lcnet_tf.flops": (2, "cost"),
    # Networks, and (beside them, knowing no model) the input pipelines.
    "lcnet_tf.models": (3, "models"),
    "lcnet_tf.data": (3, "data"),
    # What is done with a model: train it, or convert and check it.
    "lcnet_tf.training": (4, "training"),
    "lcnet_tf.export": (4, "export"),
    # Applications of exported models: the browser page's server, the Android packager.
    "lcnet_tf.apps": (5, "apps"),
    # Command lines: flags -> config -> one library call.
    "lcnet_tf.cli": (6, "cli"),
    "lcnet_tf.models_table": (6, "cli"),  # `python -m lcnet_tf.models_table`
}
ROOT_RANK = 7

# Imports of the package root that files owned elsewhere still make, as (path, import);
# each is reported in the layering change. Delete an entry once its file names the module.
PENDING_ROOT_IMPORTS = set()


def module_name(path, package_dir):
    parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_package(package_dir=PACKAGE_DIR):
    """{module name: (path relative to the repository, source)} of every module of the package."""
    return {
        module_name(path, package_dir): (path.relative_to(package_dir.parent).as_posix(),
                                         path.read_text())
        for path in sorted(package_dir.rglob("*.py"))
    }


def layer_of(module):
    """`(rank, layer)` of a module of the package, or None if `LAYERS` does not place it."""
    if module == PACKAGE:
        return ROOT_RANK, "root"
    matches = [key for key in LAYERS if module == key or module.startswith(key + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def imports_of(module, path, source, modules):
    """Yields `(line, imported module, import as written)` for each import of the package.

    `from a import b` imports module `a.b` when there is one, else module `a`.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    yield node.lineno, alias.name, f"import {alias.name}"
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = module.split(".")
                if not path.endswith("__init__.py"):
                    anchor.pop()
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            if base != PACKAGE and not base.startswith(PACKAGE + "."):
                continue
            for alias in node.names:
                target = f"{base}.{alias.name}"
                yield (node.lineno, target if target in modules else base,
                       f"from {base} import {alias.name}")


def check_layering(modules, pending_root_imports=frozenset()):
    """Every layering problem of `modules` ({name: (path, source)}), as one line each.

    Returns:
        `(problems, pending_seen)`: problem lines ("path:line: from-layer -> to-layer ...")
        and the entries of `pending_root_imports` that were found (reported as pending,
        not as problems).
    """
    problems, pending_seen, edges = [], set(), {}
    for module, (path, source) in sorted(modules.items()):
        source_layer = layer_of(module)
        if source_layer is None:
            problems.append(f"{path}: module {module} has no layer: add it to LAYERS")
            continue
        for line, target, written in imports_of(module, path, source, modules):
            where = f"{path}:{line}"
            edges.setdefault(module, {}).setdefault(target, where)
            if module == PACKAGE:
                continue
            if target == PACKAGE or written.startswith(f"from {PACKAGE} import "):
                if (path, written) in pending_root_imports:
                    pending_seen.add((path, written))
                else:
                    problems.append(f"{where}: `{written}` imports the package root: import "
                                    "from the module itself (`from lcnet_tf.ops import gate_ops`)")
                if target == PACKAGE:
                    continue
            target_layer = layer_of(target)
            if target_layer is None:
                continue  # reported once, as a module without a layer
            (rank, layer), (target_rank, target_name) = source_layer, target_layer
            if target_rank > rank:
                problems.append(f"{where}: {layer} -> {target_name}: {module} imports "
                                f"{target}, a higher layer (`{written}`)")
            elif target_rank == rank and target_name != layer:
                problems.append(f"{where}: {layer} -> {target_name}: {module} imports "
                                f"{target}, a sibling layer (`{written}`)")
    problems.extend(format_cycle(cycle, component, edges)
                    for cycle, component in import_cycles(edges))
    return problems, pending_seen


def import_cycles(edges):
    """`(cycle, component)` per strongly connected component of the import graph: the
    component's modules and a shortest cycle from the first of them."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's algorithm; the package has a few dozen modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, {}):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges.get(node, {}):
                cycles.append((cycle_through(min(component), set(component), edges),
                               sorted(component)))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return cycles


def cycle_through(start, component, edges):
    """A shortest path from `start` back to itself inside `component` (breadth first)."""
    previous, frontier = {}, [start]
    while frontier:
        next_frontier = []
        for node in frontier:
            for target in sorted(edges.get(node, {})):
                if target not in component:
                    continue
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if target not in previous:
                    previous[target] = node
                    next_frontier.append(target)
        frontier = next_frontier
    raise AssertionError(f"no cycle through {start}")


def format_cycle(cycle, component, edges):
    pairs = zip(cycle[:-1], cycle[1:], strict=True)
    steps = "; ".join(f"{edges[a][b]}: {a} -> {b}" for a, b in pairs)
    others = sorted(set(component) - set(cycle))
    also = f"; also in this cycle group: {', '.join(others)}" if others else ""
    return f"import cycle {' -> '.join(cycle)} ({steps}{also})"


# The package ----------------------------------------------------------------------------------
def test_every_import_goes_down_the_layers_without_cycles():
    modules = read_package()
    assert len(modules) > 30, sorted(modules)  # the walk found the package
    problems, _ = check_layering(modules, PENDING_ROOT_IMPORTS)
    assert not problems, "\n".join(problems)


def test_pending_root_imports_still_exist():
    _, pending_seen = check_layering(read_package(), PENDING_ROOT_IMPORTS)
    fixed = sorted(PENDING_ROOT_IMPORTS - pending_seen)
    assert not fixed, f"fixed: delete these entries of PENDING_ROOT_IMPORTS: {fixed}"


def test_training_and_export_are_siblings():
    assert layer_of("lcnet_tf.training.procedure")[0] == layer_of("lcnet_tf.export.benchmark")[0]
    assert layer_of("lcnet_tf.apps.web_demo")[0] > layer_of("lcnet_tf.export")[0]
    assert layer_of("lcnet_tf.cost.cost_model") == layer_of("lcnet_tf.flops") == (2, "cost")


# The checker fails when it should ---------------------------------------------------------------
def fake_package(sources):
    return {name: (name.replace(".", "/") + ".py", source) for name, source in sources.items()}


BASE = {
    "lcnet_tf.ops.gate_ops": "import keras\n",
    "lcnet_tf.layers.block_gate": "from lcnet_tf.ops import gate_ops\n",
    "lcnet_tf.models.registry": "from lcnet_tf.layers.block_gate import BlockGate\n",
    "lcnet_tf.training.procedure": "from lcnet_tf.models.registry import create_model\n",
    "lcnet_tf.export.tflite_export": "import lcnet_tf.models.registry\n",
}


@pytest.mark.parametrize(
    "module, source, expected",
    [
        # A back edge, at module level and hidden in a function.
        ("lcnet_tf.ops.gate_ops", "from lcnet_tf.models.registry import create_model\n",
         ["lcnet_tf/ops/gate_ops.py:1: ops -> models", "import cycle"]),
        ("lcnet_tf.ops.gate_ops", "def f():\n    import lcnet_tf.models.registry\n",
         ["lcnet_tf/ops/gate_ops.py:2: ops -> models", "import cycle"]),
        # Training and export are siblings.
        ("lcnet_tf.training.procedure", "from lcnet_tf.export import tflite_export\n",
         ["lcnet_tf/training/procedure.py:1: training -> export: "]),
        ("lcnet_tf.export.tflite_export", "from lcnet_tf.training.procedure import run\n",
         ["lcnet_tf/export/tflite_export.py:1: export -> training: "]),
        # The package root, in both spellings.
        ("lcnet_tf.export.tflite_export", "import lcnet_tf\n",
         ["lcnet_tf/export/tflite_export.py:1: `import lcnet_tf` imports the package root"]),
        ("lcnet_tf.layers.block_gate", "from lcnet_tf import ops\n",
         ["lcnet_tf/layers/block_gate.py:1: `from lcnet_tf import ops` imports the package"]),
        # A cycle within one layer.
        ("lcnet_tf.ops.gate_ops", "from lcnet_tf.ops import budget_ops\n",
         ["import cycle lcnet_tf.ops.budget_ops -> lcnet_tf.ops.gate_ops -> "
          "lcnet_tf.ops.budget_ops (lcnet_tf/ops/budget_ops.py:1: lcnet_tf.ops.budget_ops -> "
          "lcnet_tf.ops.gate_ops; lcnet_tf/ops/gate_ops.py:1: lcnet_tf.ops.gate_ops -> "
          "lcnet_tf.ops.budget_ops)"]),
        # A new module must be given a layer.
        ("lcnet_tf.extras", "", ["lcnet_tf/extras.py: module lcnet_tf.extras has no layer"]),
    ],
)
def test_the_checker_reports_a_synthetic_violation(module, source, expected):
    sources = dict(BASE, **{"lcnet_tf.ops.budget_ops": "from lcnet_tf.ops import gate_ops\n"})
    clean, _ = check_layering(fake_package(sources))
    assert clean == []
    sources[module] = source
    problems, _ = check_layering(fake_package(sources))
    assert len(problems) == len(expected), problems
    for problem, start in zip(sorted(problems), sorted(expected), strict=True):
        assert problem.startswith(start), problems


def test_pending_entries_silence_only_their_own_import():
    sources = dict(BASE, **{"lcnet_tf.layers.block_gate": "from lcnet_tf import ops\n"})
    pending = {("lcnet_tf/layers/block_gate.py", "from lcnet_tf import ops")}
    assert check_layering(fake_package(sources), pending) == ([], pending)
    sources["lcnet_tf.models.registry"] = "import lcnet_tf\n"
    problems, _ = check_layering(fake_package(sources), pending)
    assert [p.split(":")[0] for p in problems] == ["lcnet_tf/models/registry.py"]
