package jobs

// ApplyResult exposes applyResultLocked to jobs_test, so that a test can
// apply a polled result in a transaction of its own, as the reconciler
// does.
var ApplyResult = applyResultLocked
