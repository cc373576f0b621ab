package store

// CountCallbackDeliveriesIndexedSQL is the statement CountCallbackDeliveries
// runs on a big table, for its plan.
const CountCallbackDeliveriesIndexedSQL = countCallbackDeliveriesIndexed
