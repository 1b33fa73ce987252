"""Verify: a deployed lab's checks run as probes inside its nodes.

    probes  a Check -> the in-node probe's arguments; its JSON result -> a verdict
    runner  checks run concurrently, batched per node, retried while they may wait
    ping    all-pairs ping between the hosts
    junit   results as JUnit XML
"""

#: probes run at once by default (`lab test --workers`)
DEFAULT_WORKERS = 8
