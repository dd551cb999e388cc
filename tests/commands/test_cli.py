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


def _run_in_fresh_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return result.stdout


def test_console_script_help_imports_neither_torch_nor_transformers():
    out = _run_in_fresh_python(
        "import contextlib, io, sys, umust_cli\n"
        "def help_of(argv):\n"
        "    text = io.StringIO()\n"
        "    with contextlib.redirect_stdout(text):\n"
        "        try:\n"
        "            umust_cli.main(argv)\n"
        "        except SystemExit as exit_:\n"
        "            assert exit_.code == 0, argv\n"
        "    return text.getvalue()\n"
        "umust_cli._package_before_init()\n"
        "from umust_hf.cli import COMMANDS\n"
        "names = list(COMMANDS)\n"
        "assert all(name in help_of(['--help']) for name in names)\n"
        "print(len(names), *(help_of([name, '--help']).splitlines()[0] for name in names))\n"
        "print(sorted(m for m in ('torch', 'transformers', 'datasets') if m in sys.modules))\n"
    )
    assert int(out.split()[0]) >= 13 and "usage: umust train" in out and "usage: umust ytsv" in out
    assert out.strip().splitlines()[-1] == "[]"


def test_console_script_leaves_a_real_package_after_help():
    # after help only, `import umust_hf` must run the package __init__ (Auto classes registered)
    out = _run_in_fresh_python(
        "import umust_cli\n"
        "try:\n"
        "    umust_cli.main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "import umust_hf\n"
        "from transformers import AutoConfig\n"
        "print(type(AutoConfig.for_model('umust')).__name__, umust_hf.UMustConfig.__name__)\n"
    )
    assert out.strip().splitlines()[-1] == "UMustConfig UMustConfig"


def test_console_script_runs_the_package_init_before_a_command(tmp_path):
    out = _run_in_fresh_python(
        "import sys, umust_cli\n"
        f"code = umust_cli.main(['omr', '--model', {str(tmp_path)!r}, 'page.png', 'out.musicxml'])\n"
        "import umust_hf\n"
        "print(code, 'transformers' in sys.modules, umust_hf.UMustConfig.__name__)\n"
    )
    assert out.strip().splitlines()[-1] == "2 True UMustConfig"
