"""runplane's app with its metrics middleware taken out: the baseline of bench/metrics_overhead.py."""

from __future__ import annotations

from runplane.app import create_app
from runplane.middleware.metrics import MetricsMiddleware

app = create_app()
# Starlette builds the middleware stack on the first request, so the list can still be edited here.
app.user_middleware[:] = [entry for entry in app.user_middleware if entry.cls is not MetricsMiddleware]
