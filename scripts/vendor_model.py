#!/usr/bin/env python3
"""Copy botocore's omics model (from the pinned botocore) into the handlers' asset.

Run after bumping botocore in requirements.txt; tests/omics_batch_construct/test_model_sync.py fails
until the shipped copy matches the installed one.
"""

import shutil
from pathlib import Path

import botocore

SOURCE = Path(botocore.__file__).parent / "data" / "omics" / "2022-11-28"
TARGET = (
    Path(__file__).resolve().parent.parent
    / "lambda"
    / "omics_batch_construct_runtime"
    / "botocore_data"
    / "omics"
    / "2022-11-28"
)

if __name__ == "__main__":
    TARGET.mkdir(parents=True, exist_ok=True)
    for name in ("service-2.json.gz", "paginators-1.json", "endpoint-rule-set-1.json.gz"):
        shutil.copyfile(SOURCE / name, TARGET / name)
        print(f"{SOURCE / name} -> {TARGET / name}")
