"""Build dynadrop's C++ kernels (``core/csrc/*.cpp``) once per machine and load them with ctypes.

The kernels are plain C++ with a C ABI: no PyTorch headers, so a build takes a couple of
seconds with the system compiler (``$CXX``, else ``c++``), the one ``torch.compile`` already
needs on CPU. ``-march=native`` tunes them to this processor, so the cache key holds the
source, the compiler, its flags and the processor's feature flags; a shared home directory
seen from different machines keeps one library per processor kind. Builds write a temporary
file and rename it, so processes building at once never load a half-written library.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

SOURCES = Path(__file__).parent / "csrc"
FLAGS = ("-O3", "-march=native", "-fopenmp", "-std=c++17", "-shared", "-fPIC")


class KernelUnavailable(RuntimeError):
    """A kernel could not be built or loaded here (no compiler, a failed build, an unsupported OS)."""


def cache_dir() -> Path:
    """Where built kernels live: ``$DYNADROP_CACHE_DIR``, else ``~/.cache/dynadrop/kernels``."""
    configured = os.environ.get("DYNADROP_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "dynadrop" / "kernels"


def _processor_flags() -> str:
    """The CPU feature flags ``-march=native`` compiles for (Linux's /proc/cpuinfo; else the machine)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return platform.machine() + platform.processor()


def _compiler() -> str:
    compiler = os.environ.get("CXX", "c++")
    path = shutil.which(compiler)
    if path is None:
        raise KernelUnavailable(f"no C++ compiler found (looked for {compiler!r}; set CXX to one)")
    return path


@functools.cache
def load_kernel(name: str) -> ctypes.CDLL:
    """The library built from ``csrc/<name>.cpp``, building it on first use on this machine."""
    if platform.system() != "Linux":
        raise KernelUnavailable(f"dynadrop's C++ kernels are built for Linux, not {platform.system()}")
    source = SOURCES / f"{name}.cpp"
    compiler = _compiler()
    key = hashlib.sha256("\0".join([source.read_text(), compiler, *FLAGS, _processor_flags()]).encode())
    library = cache_dir() / f"{name}-{key.hexdigest()[:16]}.so"
    if not library.exists():
        try:
            _build(compiler, source, library)
        except OSError as error:
            raise KernelUnavailable(f"could not write the built kernel to {library.parent} ({error}); "
                                    "set DYNADROP_CACHE_DIR to a writable directory") from error
    try:
        return ctypes.CDLL(str(library))
    except OSError as error:
        raise KernelUnavailable(f"could not load {library}: {error}") from error


def _build(compiler: str, source: Path, library: Path) -> None:
    library.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=library.parent, prefix=f".{library.stem}-", suffix=".so")
    os.close(handle)
    try:
        command = [compiler, *FLAGS, str(source), "-o", partial]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise KernelUnavailable(
                f"building {source.name} with {compiler} failed:\n{result.stderr.strip()}")
        os.replace(partial, library)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
