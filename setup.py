"""Build step of the wheel: copy the repository's data into the package (metadata: pyproject).

``rules/`` (example rule files and Table A.2 defaults), ``schemas/`` and the local Kafka
broker's ``deploy/kafka/`` files stay where they are in git, the one copy; the wheel carries
them as ``engine/_data/{rules,schemas,kafka}``, found by ``engine.resources``. The sdist
includes the same directories (MANIFEST.in), so a wheel built from it is the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# packaged name under engine/_data → (source directory, files to take)
DATA = {
    "rules": ("rules", ["*.yaml", ".scoring/*.yaml"]),
    "schemas": ("schemas", ["*.schema.json"]),
    "kafka": ("deploy/kafka", ["pom.xml", "log4j2.properties"]),
}


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        for name, (source, patterns) in DATA.items():
            files = sorted({p for pattern in patterns for p in (ROOT / source).glob(pattern)})
            if not files:
                raise SystemExit(f"setup.py: nothing to package from {source}/ ({patterns})")
            for path in files:
                target = Path(self.build_lib, "engine", "_data", name, path.relative_to(ROOT / source))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)


setup(cmdclass={"build_py": BuildPyWithData})
