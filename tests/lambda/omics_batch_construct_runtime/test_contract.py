"""The contract's entry point names are the functions the asset holds (as CDK's consts.ts couples them)."""

from __future__ import annotations

import importlib

import pytest

from omics_batch_construct_runtime import contract


@pytest.mark.parametrize("name", [contract.HANDLER_ON_EVENT, contract.HANDLER_IS_COMPLETE, contract.HANDLER_TRACKER])
def test_each_entry_point_is_a_function_of_the_asset(name: str) -> None:
    module, _, function = name.rpartition(".")
    assert callable(getattr(importlib.import_module(module), function))
