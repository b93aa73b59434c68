"""Builds anvil._core and anvil._cffi_host with CMake for the interpreter
running this build.

pyproject.toml holds the metadata; this file only adds the extensions: one
CMake configure with -DANVIL_PYEXT_ONLY=ON (the parser, the server core,
_core, and the cffi binding with the libanvil_host.so it loads, nothing else)
for sys.executable, in build-pip/cmake-TAG/ (apart from `make build`'s
build/; TAG is the interpreter's, cpython-311 or pypy39), then the built
modules are copied where setuptools expects them (the wheel, or python/anvil/
for an editable install), libanvil_host.so beside _cffi_host.
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
        subprocess.check_call([cmake, "--build", tree, "--target", "_core", "_cffi_host",
                               f"-j{jobs}"])
        names = [os.path.basename(target)]
        if ext.name == "anvil._cffi_host":
            names.append("libanvil_host.so")  # _cffi_host loads it from its own folder
        os.makedirs(os.path.dirname(target), exist_ok=True)
        for name in names:
            built = os.path.join(out_dir, name)
            if not os.path.exists(built):
                found = sorted(os.listdir(out_dir))
                sys.exit(f"anvil: CMake built {found}, not {name} for {sys.executable}")
            shutil.copyfile(built, os.path.join(os.path.dirname(target), name))


setup(
    ext_modules=[Extension("anvil._core", sources=[]), Extension("anvil._cffi_host", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' default, build/, is `make build`'s CMake tree.
    options={"build": {"build_base": "build-pip"}},
)
