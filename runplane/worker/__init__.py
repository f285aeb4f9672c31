"""Machine-side primitives of a runplane worker.

Each module here is a small, self-contained building block the worker agent composes: running a task's
entrypoint under its resource limits (``process``, with the ``shim`` supervisor), parsing progress lines
(``progress``), masking secrets in logs (``masking``), unpacking code snapshots safely (``snapshot``),
fetching and verifying datasets (``datasets``), collecting output artifacts (``outputs``) and discovering
what the machine offers (``capabilities``). None of them talks to the API.
"""
