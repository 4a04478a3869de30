"""The package's layers point one way: no module imports from a layer above its own."""

import ast
from pathlib import Path

import attnff

PACKAGE = Path(attnff.__file__).parent

#: lowest first; a module may import its own layer's modules and those of lower layers only
LAYERS = [
    ["attnff.version", "attnff.errors", "attnff.units", "attnff.typed_fields", "attnff.device", "attnff.memory"],
    ["attnff.nn"],
    ["attnff.models"],
    ["attnff.neighbors"],
    ["attnff.data"],  # readers -> records -> tensors
    ["attnff.potential", "attnff.properties", "attnff.model_file"],
    ["attnff.train"],
    ["attnff.calculator"],
    ["attnff.md", "attnff.scan", "attnff.analysis", "attnff.attention_maps", "attnff.lammps", "attnff.ipi",
     "attnff.predict"],
    ["attnff.datagen"],
    ["attnff.plots"],
    ["attnff.md_analysis"],
    ["attnff.cli", "attnff.__main__", "attnff"],
]


def _layer(module: str) -> int:
    """Index of the layer holding ``module`` (the longest matching prefix)."""
    best, length = None, -1
    for index, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > length:
                best, length = index, len(name)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """attnff modules ``path`` imports anywhere (functions included), relative imports resolved."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("attnff"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if base.startswith("attnff"):
                found.update(f"{base}.{alias.name}" if not node.module else base for alias in node.names)
    return found


def test_every_module_imports_only_its_own_or_lower_layers():
    violations = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        own = _layer(module)
        for imported in _imports(path, module):
            if imported != "attnff" and _layer(imported) > own:
                violations.append(f"{module} (layer {own}) imports {imported} (layer {_layer(imported)})")
    assert not violations, "\n".join(violations)


def test_the_check_sees_a_violation():
    assert _layer("attnff.train.loop") < _layer("attnff.calculator")  # training may not import the calculator
    assert _layer("attnff.data.readers") < _layer("attnff.datagen.sampling")
    assert "attnff.calculator" in _imports(PACKAGE / "attention_maps.py", "attnff.attention_maps")
