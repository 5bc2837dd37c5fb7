"""The README's recipe for one's own app runs as written: from the built wheel, in a fresh venv, with
Node.js and the CDK CLI as it installs them, to a synthesized template.

Nothing is downloaded: the new venv sees the packages this one has installed (a ``.pth`` line to
this venv's site-packages, so pip finds every requirement satisfied and installs the wheel alone),
pip may use no index, and npm installs the pinned CLI from its cache (``make install`` put it
there). Everything else is the recipe's own commands, in bash, in an empty folder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Install in your own CDK app"


def recipe() -> str:
    """The first sh block of the README's section on one's own app."""
    text = (REPO / "README.md").read_text()
    section = text[text.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "the section has no sh block"
    return block.group(1)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory, built_wheel: Path) -> Path:
    """An empty folder with the wheel in it, and a venv that sees this one's packages."""
    folder = tmp_path_factory.mktemp("own-app")
    shutil.copy(built_wheel, folder)
    venv = folder / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    (site,) = venv.glob("lib/python*/site-packages")
    (site / "installed-elsewhere.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return folder


def test_the_recipe_synthesizes_from_the_wheel(app: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "JSII_")) and key != "PATH"
    }
    env.update(
        # python3 is the Python running the tests (the one this venv was made from), not a system one.
        PATH=os.pathsep.join((str(Path(getattr(sys, "_base_executable", sys.executable)).parent), "/usr/bin", "/bin")),
        PIP_NO_INDEX="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        npm_config_offline="true",
        CDK_DISABLE_VERSION_CHECK="1",
        CDK_DISABLE_CLI_TELEMETRY="1",
    )
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", recipe()],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    assert ran.returncode == 0, (ran.stdout + ran.stderr)[-4000:]
    template = (app / "cdk.out" / "Pipelines.template.json").read_text()
    assert "Custom::OmicsRunBatch" in template
    installed = subprocess.run(
        [
            str(app / ".venv" / "bin" / "python"),
            "-c",
            "import omics_batch_construct; print(omics_batch_construct.__file__)",
        ],
        cwd=app,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(app / ".venv") in installed  # the wheel's library, not the checkout's
