"""Example configs with the project's reference data: data/external/<file>, else ../shared/data/<file>.

The configs in examples/configs read public data sets from data/external/ (docs/data.md). The
project's machines keep the same files in ../shared/data beside the checkout; the benchmarks read them
there when data/external/ does not have them.
"""

from pathlib import Path

from attnff.train import RunConfig, load_config

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


def reference_path(path: str | Path) -> str:
    """``path`` if it exists; for a missing data/external/<file>, ../shared/data/<file>."""
    path = Path(path).resolve()  # absolute: a config override joins relative paths to the config's folder
    if path.exists() or path.parent.name != "external":
        return str(path)
    return str(SHARED_DATA / path.name)


def load_example_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """``load_config`` with data paths redirected by ``reference_path``."""
    config = load_config(path, overrides)
    redirect = []
    for key, paths in (("data.path", config.data.paths), ("data.test_path", config.data.test_paths)):
        moved = [reference_path(p) for p in paths]
        if moved != paths:
            redirect.append(f"{key}={moved if len(moved) > 1 else moved[0]!r}")
    return load_config(path, [*(overrides or []), *redirect]) if redirect else config
