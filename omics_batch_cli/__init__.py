"""``omics-batch``: the operator's command for HealthOmics run batches started by ``OmicsRunBatch``.

It follows a batch, lists its runs and writes the settings of the runs to retry. It imports
neither aws_cdk nor Node.js, and shares the outcome rules (which runs failed, which go in
a retry file, whether a batch ended clean) with the tracker function (``omics_batch_construct_runtime``).
"""
