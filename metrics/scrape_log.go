package metrics

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/easelhq/easel/internal/logthrottle"
)

// scrapeLogEvery is how often at most a process logs a failed scrape, per
// kind of failure: while the database is down every scrape fails alike (29
// ERROR lines in a drill's 30 s outage, one per scrape), burying the lines
// that say something new.
const scrapeLogEvery = time.Minute

// scrapeLog logs what goes wrong serving scrapes: promhttp's errors, the
// database's among them, and when the gauges read from Postgres again.
//
// An error is an ERROR "serve metrics" at the first of its kind (promhttp's
// description, such as "error gathering metrics:"), then at most once a
// scrapeLogEvery, with repeated, the errors the line stands for (itself
// included), and since, when the first of them came, once it stands for
// more than itself; the others are DEBUG. The first read of the gauges that
// succeeds after failed ones of which an ERROR was logged is an Info
// "database reachable again", with failed_reads and down_for, so that the
// last line about the database says whether it is up; reads that failed
// unlogged, within a minute of a line, are counted into the next ERROR.
type scrapeLog struct {
	logger *slog.Logger

	mu sync.Mutex
	// outage counts the reads of the gauges that failed since the last one
	// that succeeded, and throttles the ERROR lines per kind.
	outage *logthrottle.Outage
}

func newScrapeLog(logger *slog.Logger, now func() time.Time) *scrapeLog {
	l := &scrapeLog{logger: logger}
	l.setClock(now)
	return l
}

// setClock makes l read now.
func (l *scrapeLog) setClock(now func() time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// promhttp's descriptions are a few constants: none is forgotten.
	l.outage = logthrottle.NewOutage(scrapeLogEvery, now, logthrottle.WithClock(now))
}

func (l *scrapeLog) current() *logthrottle.Outage {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.outage
}

// Println logs an error of promhttp's, v being its description and the
// error: promhttp.HandlerOpts.ErrorLog.
func (l *scrapeLog) Println(v ...any) {
	kind := ""
	if len(v) > 0 {
		kind, _ = v[0].(string)
	}
	const msg = "serve metrics"
	text := strings.TrimSuffix(fmt.Sprintln(v...), "\n")
	// A line's failures are scrapes; the outage's, reads (readDone).
	n, since, ok := l.current().Line(kind)
	if !ok {
		l.logger.Debug(msg, "error", text)
		return
	}
	args := []any{"error", text}
	if n > 1 {
		args = append(args, "repeated", n, "since", since)
	}
	l.logger.Error(msg, args...)
}

// readDone notes how a read of the gauges from Postgres went: up when
// every query succeeded.
func (l *scrapeLog) readDone(up bool) {
	outage := l.current()
	if !up {
		outage.Count()
		return
	}
	if failures, downFor, ok := outage.Recovered(); ok {
		// Durations as text ("1m30s"), where a JSON handler would write
		// integer nanoseconds.
		l.logger.Info("database reachable again", "component", "metrics", "failed_reads", failures,
			"down_for", downFor.String())
	}
}
