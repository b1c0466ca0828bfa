"""keras_lr's packages import only downwards, and never each other in a cycle.

schedules -> _engine -> callbacks | finder -> tuning -> the face (__init__,
plotting, cli). Every import counts, also those inside functions.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).parents[1] / "keras_lr"

LAYERS = {
    "_validation": 0,
    "_warnings": 0,
    "_repr": 0,
    "schedules": 1,
    "_engine": 2,
    "callbacks": 3,
    "finder": 3,
    "tuning": 4,
    "__init__": 5,
    "plotting": 5,
    "cli": 5,
}


def unit(module):
    """The layer unit of a dotted keras_lr module name: its sub-package or top-level module."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path):
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path):
    """Every keras_lr module the file imports, anywhere in it."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("keras_lr"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("keras_lr"):
            found.add(node.module)
            # `from keras_lr import callbacks` imports the sub-package.
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "keras_lr")
    return found


def edges():
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = module_name(path)
        for target in sorted(imports(path)):  # a stable order: pytest-xdist workers must collect alike
            if target == "keras_lr" or unit(target) == unit(source):
                continue
            out.append((source, target))
    return out


def test_every_unit_has_a_layer():
    units = {unit(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert units <= set(LAYERS), units - set(LAYERS)


@pytest.mark.parametrize("source, target", edges())
def test_imports_go_down(source, target):
    low, high = LAYERS[unit(target)], LAYERS[unit(source)]
    same_face = low == high == LAYERS["__init__"]
    assert low < high or same_face, f"{source} imports {target}: {unit(target)} is not below {unit(source)}"


def cycles(graph):
    """The units of a {unit: units it imports} graph that reach themselves."""

    def reaches(start, goal):
        # Each unit is visited once: following every path instead took 27 s of each CI run.
        seen, todo = set(), list(graph.get(start, ()))
        while todo:
            node = todo.pop()
            if node == goal:
                return True
            if node not in seen:
                seen.add(node)
                todo.extend(graph.get(node, ()))
        return False

    return [name for name in graph if reaches(name, name)]


def test_no_cycle_between_units():
    graph = {}
    for source, target in edges():
        graph.setdefault(unit(source), set()).add(unit(target))
    assert not cycles(graph)


def test_the_checker_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set()}) == ["a", "b", "c"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_the_checker_sees_an_upward_import(tmp_path):
    # What the old callbacks/__init__.py did: import the finder's callback.
    path = tmp_path / "keras_lr" / "callbacks" / "__init__.py"
    path.parent.mkdir(parents=True)
    path.write_text("def lazy():\n    from keras_lr.finder.callback import LRFinder\n")
    assert imports(path) == {"keras_lr.finder.callback"}
    assert not LAYERS[unit("keras_lr.finder.callback")] < LAYERS[unit("keras_lr.callbacks")]
