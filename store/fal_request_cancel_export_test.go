package store

// ClaimFalCancelsSQL is ClaimFalCancels' statement, for its plan.
const ClaimFalCancelsSQL = claimFalCancels
