"""Installs the `lastmile` command and the `lastmile` / `jobs` / `udfs` packages.

Pins live in lastmile/versions.py; this file only reads them.
"""
import pathlib
import runpy

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent
pins = runpy.run_path(str(HERE / "lastmile" / "versions.py"))

setup(
    name="lastmile",
    version="0.1.0",
    description="Shared last-mile delivery coordination on Kafka, PyFlink and ClickHouse",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=pins["PYTHON_REQUIRES"],
    packages=find_packages(include=["lastmile", "lastmile.*", "jobs", "jobs.*", "udfs", "udfs.*"]),
    install_requires=pins["RUNTIME_REQUIREMENTS"],
    extras_require={"test": pins["TEST_REQUIREMENTS"], "lint": pins["LINT_REQUIREMENTS"]},
    entry_points={"console_scripts": ["lastmile=lastmile.cli:main"]},
)
