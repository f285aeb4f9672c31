"""The HTTP middleware chain, one concern per module.

The order is written down once, here, and `runplane.app` builds the chain from it (outermost first):

1. `trace.TraceMiddleware`          gives every request a trace id (header, log lines, error bodies).
2. `errors.ErrorMiddleware`         turns anything that escapes the layers below into the uniform error
                                    body (500 for our faults; a client that hung up is logged as 499).
3. `access.AccessLogMiddleware`     one structured log line per request, with status and duration.
4. `metrics.MetricsMiddleware`      counts requests and their latency by operationId and status (Prometheus).
5. `ratelimit.RateLimitMiddleware`  per-address failed-key budgets (429) and the RateLimit-* headers of
                                    the per-key budget, which is spent once the key is resolved (security).
6. `body_limit.BodyLimitMiddleware` refuses bodies over the configured size (413) before anyone reads them.
7. `content_type.ContentTypeMiddleware` refuses a body without a Content-Type (415).
8. `request_body.RequestBodyMiddleware` lower-cases the media type and bounds body reading in time (408);
                                    a hang-up while reading is a 499 (connexion's JSON body validator then
                                    holds every JSON body to the server limits, runplane.validation).
9. `no_content.NoContentMiddleware` drops Content-Type from answers without a body (204, bodiless 202).
10. connexion: routing → security (X-API-Key, role, key budget) → request validation → the handler.
"""
