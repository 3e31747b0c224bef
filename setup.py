"""Build hook: ship the repository's ``sql/`` and ``notebooks/`` inside the package.

The metadata lives in ``pyproject.toml``; this file only teaches ``build_py`` to copy the SQL models,
migrations, catalog and checks into ``basinlab/_sql/`` and the chained notebooks into
``basinlab/_notebooks/`` of the wheel, so a non-editable ``pip install .`` finds them
(:mod:`basinlab.config` prefers the checkout's folders when it runs from a checkout).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
#: repository folder -> (folder inside the package, file patterns shipped)
RESOURCES = {
    "sql": ("_sql", ("*.sql", "*.yml")),
    "notebooks": ("_notebooks", ("*.ipynb",)),
}
SKIP_DIRS = {".ipynb_checkpoints", "__pycache__"}


def resource_files(folder: str, patterns: tuple[str, ...]) -> list[Path]:
    """The files of a repository folder that the package ships, relative to that folder."""
    root = HERE / folder
    out = []
    for pattern in patterns:
        for path in root.rglob(pattern):
            rel = path.relative_to(root)
            if path.is_file() and not SKIP_DIRS.intersection(rel.parts):
                out.append(rel)
    return sorted(set(out))


class build_py_with_resources(build_py):
    """``build_py`` that also copies sql/ and notebooks/ into the built package."""

    def run(self) -> None:
        super().run()
        for folder, (target, patterns) in RESOURCES.items():
            dest_root = Path(self.build_lib) / "basinlab" / target
            if dest_root.exists():
                shutil.rmtree(dest_root)
            for rel in resource_files(folder, patterns):
                dest = dest_root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(HERE / folder / rel, dest)


setup(cmdclass={"build_py": build_py_with_resources})
