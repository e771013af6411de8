"""The PyPI package named `entrypoints` would shadow ours: prove ours is the one imported."""

import subprocess
import sys
from pathlib import Path

import entrypoints

SRC = Path(__file__).resolve().parents[2] / "src"


def test_entrypoints_is_the_billing_package():
    assert Path(entrypoints.__file__).resolve().parent == SRC / "entrypoints"
    assert entrypoints.BILLING_SERVICE_PACKAGE is True


def test_installed_resolution_outside_the_checkout_finds_ours(tmp_path):
    code = (
        "import entrypoints, domain, adapters; print(entrypoints.__file__); "
        "print(entrypoints.BILLING_SERVICE_PACKAGE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert Path(out[0]).resolve().parent == SRC / "entrypoints"
    assert out[1] == "True"
