package store

// AbandonOrphanedCallbacksSQL is AbandonOrphanedCallbacks's statement, for
// its plan.
const AbandonOrphanedCallbacksSQL = abandonOrphanedCallbacks
