"""Where the handler code lives, and what the construct shares with it.

The handlers are plain Python under the repository's ``lambda/`` folder (installed as
``omics_batch_construct/_lambda`` in a wheel). The construct reads two things from there
rather than keeping copies: the property/attribute names (``omics_common/contract.py``) and
the botocore service model the handlers ship (``omics_common/botocore_data``), which is
where the validation's limits come from.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from botocore.model import ServiceModel

_PACKAGE_DIR = Path(__file__).resolve().parent


def _find_lambda_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "_lambda", _PACKAGE_DIR.parent / "lambda"):
        if (candidate / "omics_common" / "contract.py").is_file():
            return candidate
    raise FileNotFoundError(f"handler code not found beside {_PACKAGE_DIR}")


LAMBDA_DIR = _find_lambda_dir()
MODEL_FILE = LAMBDA_DIR / "omics_common" / "botocore_data" / "omics" / "2022-11-28" / "service-2.json.gz"


def _load_contract() -> ModuleType:
    name = "omics_batch_construct._contract"
    spec = importlib.util.spec_from_file_location(name, LAMBDA_DIR / "omics_common" / "contract.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


contract = _load_contract()


@cache
def service_model() -> ServiceModel:
    """botocore's omics model, as shipped with the handlers."""
    with gzip.open(MODEL_FILE, "rt", encoding="utf-8") as f:
        return ServiceModel(json.load(f), service_name="omics")
