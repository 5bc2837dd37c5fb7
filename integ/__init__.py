"""The integration test for an account: the integ app (integ_omics_run_batch.py) and its driver (run.py)."""
