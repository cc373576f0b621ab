package jobs

// ReconcileBatch exposes reconcileBatch to jobs_test, so that a test can
// fill a whole batch.
const ReconcileBatch = reconcileBatch
