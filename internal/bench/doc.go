// Package bench is easel bench: one process, one run, against a database it
// creates on the configured server and drops afterwards. In order:
//
//  1. Anchors, what this machine allows at all, measured in the same run:
//     raw Postgres commits/s (single-row INSERT transactions from 50
//     connections) and River no-op jobs/s with the River configuration and
//     pool Easel uses (jobs.RiverConfig).
//  2. The pipeline: easel serve runs in this process (serve.Run: HTTP API
//     with an API key, River workers, webhook receiver) against the
//     in-process simulator at zero latency. Concurrency clients enqueue N
//     generations over HTTP; each goes through River, the submit to the
//     simulator, its signed webhook and the recorded result. Then a few
//     generations are enqueued one at a time, each after the previous was
//     recorded, to measure latency on an idle system.
//  3. History: a large history is seeded by COPY, then each README recipe
//     (history.Recipes) and the list queries of the API and gallery are
//     timed, with whether their plans read an index.
//
// How each figure is measured:
//
//   - e2e generations/s: N ÷ (first enqueue sent → N-th webhook
//     acknowledged). Easel answers a webhook only once the result has
//     committed, so an acknowledgement means "recorded".
//   - enqueue latency: client side, request sent → 202 read.
//   - enqueue → submitted, enqueue → completed: from the rows' own
//     created_at, submitted_at and completed_at (Postgres clocks), after the
//     run. The headline enqueue → submitted p50 is the idle probes'; the
//     loaded one is reported beside it.
//   - webhook latency: simulator side, delivery sent → Easel's answer,
//     timed by the transport of the simulator's webhook client.
//   - commits per generation: pg_stat_database.xact_commit of the bench
//     database from before easel serve starts to after it stopped (so every
//     backend has flushed its counters), ÷ the generations enqueued. Read-only
//     transactions count; the bench's own monitoring connects elsewhere.
//   - database activity: pg_stat_activity sampled every 20 ms during the
//     load, as average active sessions per wait event and per statement;
//     this stands in for pg_stat_statements, which needs a server restart.
//   - peak RSS: VmHWM of the process at the end, so all three steps count.
//
// The bench writes synthetic rows into its own database directly, as tests
// do; nothing else may.
package bench
