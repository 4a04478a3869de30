"""Top-level `attnff` options."""

import subprocess
import sys

import pytest

from attnff import __version__
from attnff.cli import main


def test_version_prints_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"attnff {__version__}"


def test_version_from_the_module_entry_point():
    result = subprocess.run([sys.executable, "-m", "attnff", "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == f"attnff {__version__}"
