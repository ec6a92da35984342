"""The package's imports run one way: method below the loop, the loop below hierarchies, tooling on top."""

import ast
from pathlib import Path

import latent_space_policies

PACKAGE = Path(latent_space_policies.__file__).parent

# Each module may import only modules of a lower layer: no cycle can form, and reading bottom up
# (the method, the loop, hierarchies, tooling, the command line) never needs what comes later.
LAYERS = [
    {"errors", "presets"},
    {"pretrained", "flows", "rewards", "replay", "envs.ant", "envs.robotics"},
    {"checkpoint", "envs"},
    {"policies"},
    {"critics"},
    {"sac"},
    {"sql", "levels"},
    {"evaluation", "logs", "agents"},
    {"training"},
    {"loading", "hierarchy"},
    {"experiments", "experiments.peers", "experiments.report", "experiments.maze_oracle"},
    {"experiments.sweep"},
    {"experiments.ant_maze"},
    {"experiments.ant_umaze"},
    {"cli", "__init__"},
]
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    name = ".".join(parts)
    return name.removesuffix(".__init__") if name != "__init__" else name


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):  # lazy imports inside functions count too
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("latent_space_policies."):
            names.add(node.module.removeprefix("latent_space_policies."))
        elif isinstance(node, ast.Import):
            names |= {a.name.removeprefix("latent_space_policies.") for a in node.names
                      if a.name.startswith("latent_space_policies.")}  # fmt: skip
    return names


def test_every_import_goes_down_the_layers():
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    assert set(modules) <= set(RANK), f"modules without a layer: {sorted(set(modules) - set(RANK))}"
    upward = [
        f"{name} (layer {RANK[name]}) imports {imported} (layer {RANK[imported]})"
        for name, path in modules.items()
        for imported in _imports(path)
        if not RANK[imported] < RANK[name] and not (name == "__init__" and imported != "__init__")
    ]
    assert not upward, "\n".join(upward)
