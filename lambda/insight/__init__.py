"""The run insight function: each run of a cohort, as it ends, priced and explained.

``index.handler`` takes HealthOmics' "Run Status Change" events for ended runs from a queue, in
batches, and writes one record a run (``omics_batch_construct_runtime.runrecords``) beside the cohort's report.
"""
