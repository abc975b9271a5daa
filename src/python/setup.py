"""setup.py - builds the ember package (pure Python + the _ember extension) with setuptools.

    pip install --no-build-isolation src/python      # from the repository root; Debian's setuptools
"""
import os
import subprocess

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def pkg_config(flag):
    try:
        return subprocess.check_output(["pkg-config", flag, "libcurl"], text=True).split()
    except (OSError, subprocess.CalledProcessError):
        return ["-lcurl"] if flag == "--libs" else []


def version():
    try:
        with open(os.path.join(HERE, "..", "..", "VERSION")) as f:
            return f.read().strip()
    except OSError:
        return "0.1.0"


setup(
    name="ember",
    version=version(),
    description="Ember continuous profiler: in-process agent for CPython (CPU, wall, allocations)",
    packages=["ember"],
    ext_modules=[
        Extension(
            "ember._ember",
            sources=["module.c", "report.c", "capture.c"],
            depends=["pyagent.h"],
            extra_compile_args=["-std=gnu11", "-D_GNU_SOURCE", "-fvisibility=hidden", "-pthread"]
            + pkg_config("--cflags"),
            extra_link_args=pkg_config("--libs") + ["-lm", "-pthread"],
        )
    ],
    python_requires=">=3.11,<3.12",
)
