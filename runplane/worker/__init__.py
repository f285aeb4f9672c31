"""The runplane worker: the agent that runs tasks, and the machine-side primitives it composes.

The agent (``agent``: registration, lease, claims, supervision; ``execution``: one task from preparing to
its end; ``command``: ``runplane worker`` / ``python -m runplane.worker``) talks to the API over HTTP only,
through ``client``. It composes small, self-contained building blocks that never talk to the API: running a
task's entrypoint under its resource limits (``process``, with the ``shim`` supervisor), its command line
and environment (``launch``), which cores and GPUs it gets (``resources``), parsing progress lines
(``progress``), masking secrets in logs (``masking``) and shipping them in batches (``logship``), unpacking
code snapshots safely (``snapshot``), fetching and verifying datasets (``datasets``), collecting output
artifacts (``outputs``) and discovering what the machine offers (``capabilities``).
"""
