package jobs

// ReconcileBatch exposes reconcileBatch to jobs_test, so that a test can
// fill a whole batch.
const ReconcileBatch = reconcileBatch

// ReconcileConcurrency exposes reconcileConcurrency to jobs_test, so that a
// test can fill every slot and queue more behind them.
const ReconcileConcurrency = reconcileConcurrency
