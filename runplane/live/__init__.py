"""Live events: every process reads the durable event log and fans new events out to its clients.

- `hub`: one `EventHub` per server process: a single reader of the events table, bounded per-client
  queues, tenancy, pruning.
- `sse`: the Server-Sent Events streams (`/v1/scheduler/status/stream`, `/v1/scheduler/jobs/{id}/stream`).
- `websocket`: the `/ws` endpoint.

The wake-ups for the readers (PostgreSQL NOTIFY sent with each committing transaction that wrote events,
plus an in-process wake-up; a hint only, the events table is the truth) are `runplane.store.notify`, and
every query on the event log is `runplane.store.event_log`: all SQL lives in `runplane.store`.
"""
