"""Backend availability probes find modules without importing them."""

from __future__ import annotations

import subprocess
import sys

from workbench.backends.base import module_availability


def test_missing_module_names_the_pip_fix() -> None:
    av = module_availability("no_such_module_xyz", package="no-such-dist")
    assert not av.ok and "pip install no-such-dist" in av.reason


def test_present_module_reports_its_version() -> None:
    av = module_availability("numpy", reason="arrays")
    assert av.ok and av.reason == "arrays" and av.version and av.version[0].isdigit()


def test_listing_backends_does_not_import_torch() -> None:
    code = (
        "import sys; from workbench.backends import available_backends; "
        "av = available_backends(); "
        "print(av['bcd'].ok, av['bilevel_penalty'].ok, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False"]
