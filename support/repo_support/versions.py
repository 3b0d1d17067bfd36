"""The ``__version__`` check shared by the packages' ``test_public_api.py``.

Each package's ``__init__`` reads its version from its installed metadata (``"0+unknown"`` without any);
the one place the version is written is ``python_artifact(version=...)`` in the package's BUILD file.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from types import ModuleType

__all__ = ["UNKNOWN_VERSION", "assert_version_matches", "build_file_version"]

#: What a package reports without installed metadata (valid PEP 440, below any real release).
UNKNOWN_VERSION = "0+unknown"


def build_file_version(build_file: Path) -> str | None:
    """``python_artifact(version=...)`` of ``build_file``, or None where it is absent (a Pants test sandbox
    holds none; .ci/check_wheels.sh then compares the built wheel with the BUILD file)."""
    if not build_file.is_file():
        return None
    found = re.findall(r'^\s*version="([^"]+)",\s*$', build_file.read_text(), flags=re.MULTILINE)
    assert len(found) == 1, f"{build_file}: expected exactly one version=..., found {found}"
    return str(found[0])


def assert_version_matches(module: ModuleType, dist: str, build_file: Path, tmp_path: Path) -> None:
    """``module.__version__`` is distribution ``dist``'s installed version (the BUILD file's, when both
    exist) or UNKNOWN_VERSION; and, given metadata like a wheel's (with the BUILD file's version, or a made-up
    one where no BUILD file is, as in a Pants sandbox: .ci/check_wheels.sh compares the real wheel with the
    BUILD file), a fresh interpreter reports exactly that."""
    assert "__version__" not in getattr(module, "__all__", ()), "__version__ is a dunder, not API"
    build_version = build_file_version(build_file)
    try:
        installed = version(dist)
    except PackageNotFoundError:  # run from the source tree
        assert module.__version__ == UNKNOWN_VERSION
    else:
        assert module.__version__ == installed
        if build_version is not None:
            assert installed == build_version, f"the installed {dist} is not the one in this source tree"
    if build_version is None:
        build_version = "9.8.7.dev0"
    info = tmp_path / f"{dist.replace('-', '_')}-{build_version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {build_version}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    code = f"import {module.__name__} as m; print(m.__version__)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == build_version
