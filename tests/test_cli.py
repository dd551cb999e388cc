import subprocess
import sys

import umust_hf
from umust_hf.cli import main


def test_version_and_help(capsys):
    try:
        main(["--version"])
    except SystemExit as exit_:
        assert exit_.code == 0
    assert umust_hf.__version__ in capsys.readouterr().out
    assert main([]) == 0
    assert "build-corpus" in capsys.readouterr().out


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "umust_hf", "--help"], capture_output=True, text=True, check=True)
    assert "usage: umust" in result.stdout
