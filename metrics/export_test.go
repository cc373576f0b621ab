package metrics

import "time"

// DatabaseReadEvery is how long one read of the gauges from Postgres
// serves scrapes.
const DatabaseReadEvery = databaseReadEvery

// SetDatabaseClock makes m age its readings of the gauges by now, so that a
// test expires one without waiting, and throttle the lines of failed
// scrapes by it. Call it before the first scrape.
func (m *Metrics) SetDatabaseClock(now func() time.Time) {
	m.dbGauges.now = now
	m.scrapeLog.setClock(now)
}

// ScrapeLogEvery is how often at most a kind of failed scrape is logged.
const ScrapeLogEvery = scrapeLogEvery
