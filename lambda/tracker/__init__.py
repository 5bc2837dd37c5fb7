"""The completion tracker: one Lambda function behind a batch's tracking state machine.

``index.handler`` dispatches on the event's ``action``: ``check`` (the batch's status),
``park`` (the state machine waits on a task token), ``resume`` (HealthOmics' status-change
event wakes the waiting execution) and ``report`` (per-run report files, a retry file, a
completion event). The modules beside it are functions of the clients they are given.
"""
