package metrics

import "time"

// DatabaseReadEvery is how long one read of the gauges from Postgres
// serves scrapes.
const DatabaseReadEvery = databaseReadEvery

// SetDatabaseClock makes m age its readings of the gauges by now, so that a
// test expires one without waiting. Call it before the first scrape.
func (m *Metrics) SetDatabaseClock(now func() time.Time) {
	m.dbGauges.now = now
}
