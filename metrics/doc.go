// Package metrics holds Easel's Prometheus metrics and serves them at
// /metrics.
//
// Two kinds live here. Counters and histograms are observed in-process by
// the code that sees the event: the webhook receiver (webhook outcomes,
// errors included), whatever finishes a generation (the receiver, the
// reconciler, a cancel, the submit worker: generations finished, results
// applied, time to complete), the fal client (calls by result, and their
// durations, through CountFal), River's workers (job durations, through a
// worker middleware), the callback worker (callback outcomes) and the HTTP
// server (requests by route, method and status, and error answers by their
// code, through an Echo middleware, HTTPMiddleware). Gauges of state
// shared by every process (generations by status, in flight at fal, the
// oldest unfinished, submissions whose answer was lost, River queue depth,
// callback deliveries by state and the oldest not ended, and whether the
// database answered) are read from Postgres when
// Prometheus scrapes, with a short timeout, so that every process reports
// the same numbers and none has to keep them up to date. The
// process's own database pool (connections, and acquires waiting for one)
// is read from pgxpool's statistics at scrape time too.
//
// Every method works on a nil *Metrics and does nothing, so code and tests
// that do not care about metrics pass nil.
package metrics
