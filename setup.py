"""Builds anvil._core with CMake for the interpreter running this build.

pyproject.toml holds the metadata; this file only adds the extension: one
CMake configure with -DANVIL_PYEXT_ONLY=ON (the parser, the server core and
_core, nothing else) for sys.executable, in build-pip/cmake-TAG/ (apart from
`make build`'s build/; TAG is the interpreter's, cpython-311 or pypy39), then
the built module is copied where setuptools expects it (the wheel, or
python/anvil/ for an editable install).
"""

import os
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        cmake = shutil.which("cmake")
        if cmake is None:
            sys.exit("anvil: cmake is needed to build _core (Debian: apt-get install cmake)")
        target = os.path.abspath(self.get_ext_fullpath(ext.name))
        # One CMake tree per interpreter, at a fixed place: a regular and an
        # editable install (whose build_temp is new each time) share it.
        tree = os.path.join(ROOT, "build-pip", f"cmake-{sys.implementation.cache_tag}")
        out_dir = os.path.join(tree, "out")
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 1)
        subprocess.check_call([
            cmake, "-S", ROOT, "-B", tree, "-DCMAKE_BUILD_TYPE=Release",
            "-DANVIL_PYEXT_ONLY=ON", f"-DPYTHON_EXECUTABLE={sys.executable}",
            f"-DANVIL_CORE_OUTPUT_DIR={out_dir}",
        ])
        subprocess.check_call([cmake, "--build", tree, "--target", "_core", f"-j{jobs}"])
        built = os.path.join(out_dir, os.path.basename(target))
        if not os.path.exists(built):
            found = sorted(os.listdir(out_dir))
            sys.exit(f"anvil: CMake built {found}, not {os.path.basename(target)} for {sys.executable}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(
    ext_modules=[Extension("anvil._core", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' default, build/, is `make build`'s CMake tree.
    options={"build": {"build_base": "build-pip"}},
)
