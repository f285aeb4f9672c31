"""The HTTP middleware chain, one concern per module.

The order is written down once, here, and `runplane.app` builds the chain from it (outermost first):

1. `trace.TraceMiddleware`          gives every request a trace id (header, log lines, error bodies).
2. `cors.ApiCorsMiddleware`         answers CORS preflights of configured origins (before any key check)
                                    and marks every answer to them readable, error answers included.
3. `errors.ErrorMiddleware`         turns anything that escapes the layers below into the uniform error
                                    body (500 for our faults; a client that hung up is logged as 499).
4. `access.AccessLogMiddleware`     one structured log line per request, with status and duration.
5. `metrics.MetricsMiddleware`      counts requests and their latency by operationId and status (Prometheus).
6. `ratelimit.RateLimitMiddleware`  per-address failed-key budgets (429) and the RateLimit-* headers of
                                    the per-key budget, which is spent once the key is resolved (security).
7. `body_limit.BodyLimitMiddleware` refuses bodies over the configured size (413) before anyone reads them.
8. `content_type.ContentTypeMiddleware` refuses a body without a Content-Type, or content-coded (415).
9. `request_body.RequestBodyMiddleware` lower-cases the media type and bounds body reading in time (408);
                                    a hang-up while reading is a 499 (connexion's JSON body validator then
                                    holds every JSON body to the server limits, runplane.validation).
10. `no_content.NoContentMiddleware` drops Content-Type from answers without a body (204, bodiless 202).
11. connexion: routing → security (X-API-Key, role, key budget) → request validation → the handler.
"""
