"""Run PyTriton's Python backend stub with the interpreter's own libpython and with NumPy 1.x.

Two facts about nvidia-pytriton 0.7.0 (Triton 2.51), both checked on this project's machine:

- The stub binary links `libpython3.X.so` and the dynamic loader picks the system's copy first.
  When the running interpreter is another patch release (system 3.11.2, interpreter 3.11.7), the
  model fails to load with `'_thread.RLock' object has no attribute '_recursion_count'`. Putting
  the interpreter's own library folder first on LD_LIBRARY_PATH fixes it.
- The stub builds its input arrays through a pybind11 NumPy API that predates NumPy 2. Under
  NumPy 2.x every BYTES input arrives as repeated length bytes ("unpack_from requires a buffer of
  at least 50529031 bytes") and FP32 outputs come back empty. nvidia-pytriton 0.7.0 therefore
  requires numpy<2, and pip installs NumPy 1.26 with it.

When the server's environment has NumPy 2 anyway (another package pinned it), the stub gets a
side environment: a venv without pip whose site-packages holds only NumPy 1.x and a .pth file that
adds this environment's site-packages after it. PyTriton starts the stub with that venv's
`bin` first on PATH, which is how the stub's embedded interpreter finds its site-packages.
Only the stub uses NumPy 1.x; the classifier runs in the server process with the NumPy it has.
"""

from __future__ import annotations

import logging
import os
import site
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from ..errors import SotriageError
from ..io import atomic_dir, read_json, write_json

log = logging.getLogger(__name__)

STUB_ENV_VARIABLE = "SOTRIAGE_TRITON_STUB_ENV"
STUB_NUMPY_SPEC = "numpy>=1.23,<2"
_MARKER = "sotriage-stub-env.json"


def library_path_with_libpython(current: str | None = None) -> str:
    """Return LD_LIBRARY_PATH with this interpreter's libpython folder first."""
    libdir = sysconfig.get_config_var("LIBDIR") or str(Path(sys.base_prefix) / "lib")
    parts = [libdir] + [p for p in (current or "").split(os.pathsep) if p and p != libdir]
    return os.pathsep.join(parts)


def numpy_major() -> int:
    import numpy

    return int(numpy.__version__.split(".")[0])


def default_stub_env_path() -> Path:
    from ..shipped import cache_root

    version = f"{sys.version_info.major}{sys.version_info.minor}"
    return Path(os.environ.get(STUB_ENV_VARIABLE) or cache_root() / f"triton-stub-env-py{version}")


def _site_packages(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _is_ready(env: Path) -> bool:
    marker = env / _MARKER
    if not marker.is_file():
        return False
    info = read_json(marker)
    return info.get("python") == sys.version.split()[0] and info.get("parent_site_packages") == site.getsitepackages()


def prepare_stub_env(env: Path) -> Path:
    """Create (once) the side environment at `env`; pip downloads NumPy 1.x on the first call."""
    if _is_ready(env):
        return env
    log.info("creating the Triton stub environment with NumPy 1.x in %s (first use; pip installs %s)", env, STUB_NUMPY_SPEC)
    with atomic_dir(env) as tmp:
        venv.EnvBuilder(with_pip=False, symlinks=True).create(tmp)
        target = _site_packages(tmp)
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), STUB_NUMPY_SPEC]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise SotriageError(
                f"could not install {STUB_NUMPY_SPEC} for the Triton stub environment ({result.stderr.strip()[-400:]}). "
                f"PyTriton's stub needs NumPy 1.x and this environment has NumPy {numpy_major()}.x. Either install "
                f"numpy<2 here (pip install 'numpy<2'), or prepare the stub environment where pip works and point "
                f"{STUB_ENV_VARIABLE} at it."
            )
        # Entries of a .pth file are appended after the venv's own site-packages, so the stub
        # imports NumPy 1.x from the venv and pytriton, zmq and the rest from this environment.
        (target / "sotriage-parent-env.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
        write_json(tmp / _MARKER, {"python": sys.version.split()[0], "parent_site_packages": site.getsitepackages(),
                                   "numpy": STUB_NUMPY_SPEC})
    return env


def configure_stub_environment() -> Path | None:
    """Point PyTriton's stub at the right libpython and NumPy; returns the side env, if one is used.

    Sets LD_LIBRARY_PATH in os.environ, which PyTriton copies when it starts tritonserver (and
    tritonserver passes on to the stub). The server process itself has already loaded its
    libraries, so the change does not affect it.
    """
    os.environ["LD_LIBRARY_PATH"] = library_path_with_libpython(os.environ.get("LD_LIBRARY_PATH"))
    if numpy_major() < 2:
        return None
    env = prepare_stub_env(default_stub_env_path())
    from pytriton.server import triton_server

    # NOTE: PyTriton 0.7.0 has no setting for the stub's environment: it prepends
    # get_triton_python_backend_python_env()/bin to PATH, so that function is replaced here.
    triton_server.get_triton_python_backend_python_env = lambda: env
    log.info("NumPy %d.x in this environment: PyTriton's stub runs with NumPy 1.x from %s", numpy_major(), env)
    return env
