// Package bench is easel bench: one process, one run, against databases it
// creates on the configured server and drops afterwards. In order:
//
//  1. Anchors, what this machine allows at all, measured in the same run:
//     raw Postgres commits/s (single-row INSERT transactions from 50
//     connections) and River no-op jobs/s with the River configuration
//     (jobs.RiverConfig) and pool size easel serve uses.
//  2. The pipeline: easel serve runs in this process (serve.Run: HTTP API
//     with an API key, River workers, webhook receiver) against the
//     in-process simulator at zero latency, three times in turn. The first
//     is started and stopped at once, to count what that commits. In the
//     second, after an unmeasured warm-up that opens its connections,
//     Concurrency clients enqueue N generations over HTTP, closed
//     loop or at an offered rate; each goes through River, the submit to
//     the simulator, its signed webhook and the recorded result. The third
//     runs a warm-up, then a few generations one at a time and a few
//     bursts, each once the system is idle, to measure latency on an idle
//     system.
//  3. History, in a second database: a large history is seeded by COPY,
//     then each README recipe (history.Recipes) and the list queries of
//     the API and gallery are timed, first run and median, with whether
//     their plans find the generations through an index, and, for a
//     parallel plan, the median with parallel query off.
//
// How each figure is measured:
//
//   - e2e generations/s: N ÷ (first enqueue sent → N-th webhook
//     acknowledged). Easel answers a webhook only once the result has
//     committed, so an acknowledgement means "recorded".
//   - enqueue latency: client side, request sent → 202 read.
//   - enqueue → submitted: from the row's created_at (Postgres's clock) to
//     the simulator's acceptance of the submission (falsim's OnSubmit, this
//     process's clock, corrected by the measured offset between the two).
//     The headline p50 is the idle probes'; the loaded one is reported
//     beside it, each with its number of samples.
//   - enqueue → completed: from the rows' created_at and completed_at,
//     after the run.
//   - webhook latency: simulator side, delivery sent → Easel's answer,
//     timed by the transport of the simulator's webhook client.
//   - commits per generation: pg_stat_database.xact_commit of the bench
//     database from before the load's easel serve starts to after it
//     stopped (only a backend's exit is sure to publish its counts), less
//     the same for an easel serve started and stopped at once, ÷ N.
//     Read-only transactions, River's maintenance and autovacuum count;
//     the bench's own monitoring connects elsewhere.
//   - database activity: pg_stat_activity sampled every 20 ms during the
//     load, as average active sessions per wait event and per statement;
//     this stands in for pg_stat_statements, which needs a server restart.
//   - peak RSS: VmHWM of the process at the end, so all three steps count.
//
// docs/BENCHMARKS.md says more. The bench writes synthetic rows into its
// own databases directly, as tests do; nothing else may.
package bench
