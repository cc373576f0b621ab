package store

// OldestUnfinishedSQL is OldestUnfinished's statement, for its plan.
const OldestUnfinishedSQL = oldestUnfinished
