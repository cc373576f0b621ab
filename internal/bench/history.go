package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/easelhq/easel/history"
	"github.com/easelhq/easel/migrations"
	"github.com/easelhq/easel/store"
)

// historyRuns is how many timed runs of each query the median is taken of.
const historyRuns = 5

// historyQuery is one query the history step times.
type historyQuery struct {
	name, kind string
	run        func(ctx context.Context, db store.DBTX) error
}

// historyQueries are README's recipes and the list queries of the API and
// the gallery, with the filters a caller is likely to use.
func historyQueries(now time.Time) []historyQuery {
	var qs []historyQuery
	for _, r := range history.Recipes() {
		qs = append(qs, historyQuery{name: r.Name, kind: "recipe", run: func(ctx context.Context, db store.DBTX) error {
			rows, err := db.Query(ctx, r.SQL)
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}})
	}
	list := func(name string, p store.ListGenerationsParams) historyQuery {
		p.Limit = 50
		return historyQuery{name: name, kind: "list", run: func(ctx context.Context, db store.DBTX) error {
			// A page of GET /v1/generations: the rows, then their images.
			gens, _, err := store.ListGenerations(ctx, db, p)
			if err != nil {
				return err
			}
			ids := make([]uuid.UUID, len(gens))
			for i, g := range gens {
				ids[i] = g.ID
			}
			_, err = store.ListImagesOf(ctx, db, ids)
			return err
		}}
	}
	nsfw := true
	qs = append(qs,
		list("newest", store.ListGenerationsParams{}),
		list("status=failed", store.ListGenerationsParams{Statuses: []store.Status{store.StatusFailed}}),
		list("client, since 7 days", store.ListGenerationsParams{Client: "marketing", Since: now.Add(-7 * 24 * time.Hour)}),
		list("page from 45 days back", store.ListGenerationsParams{After: &store.GenerationCursor{CreatedAt: now.Add(-45 * 24 * time.Hour), ID: uuid.Max}}),
		list("has_nsfw=true", store.ListGenerationsParams{HasNSFW: &nsfw}),
		historyQuery{name: "gallery newest", kind: "list", run: func(ctx context.Context, db store.DBTX) error {
			_, _, err := store.ListGallery(ctx, db, store.GalleryParams{Limit: 48})
			return err
		}},
	)
	return qs
}

// runHistory seeds the history in a database of its own on the server
// serverURL names, times each query on it, and drops it unless cfg keeps
// it: the pipeline's rows, all completed, all of client "bench", all of
// the last minutes, would otherwise sit at the newest end of the history
// and weigh on the recent windows the recipes read.
func runHistory(ctx context.Context, cfg Config, serverURL string, res *Result) (err error) {
	db, err := createDatabase(ctx, serverURL, "_history")
	if err != nil {
		return err
	}
	res.HistoryDatabase = db.name
	defer func() {
		if dropErr := db.dropUnlessKept(context.WithoutCancel(ctx), cfg); dropErr != nil && err == nil {
			err = dropErr
		}
	}()
	cfg.progress("history: database %s created; migrating it", db.name)
	if err := migrations.Up(ctx, db.url, nil); err != nil {
		return err
	}

	plans := &planRecorder{}
	connCfg, err := pgx.ParseConfig(db.url)
	if err != nil {
		return fmt.Errorf("history: parse database URL: %w", err)
	}
	connCfg.OnNotice = plans.notice
	conn, err := pgx.ConnectConfig(ctx, connCfg)
	if err != nil {
		return fmt.Errorf("history: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	cfg.progress("history: seeding %d generations by COPY", cfg.HistoryRows)
	start := time.Now()
	if err := seedHistory(ctx, conn, cfg.HistoryRows, cfg.progress); err != nil {
		return err
	}
	res.HistorySeedSeconds = time.Since(start).Seconds()
	// What the queries ran on, whatever was asked for.
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM generations`).Scan(&res.HistoryRows); err != nil {
		return fmt.Errorf("history: count generations: %w", err)
	}

	// auto_explain reports the plan of each statement a query runs as a
	// notice, which is how the plans of store's list functions, whose SQL
	// is built inside them, are seen.
	explain := true
	if _, err := conn.Exec(ctx, `LOAD 'auto_explain'`); err != nil {
		cfg.progress("history: auto_explain unavailable, plans not reported: %v", err)
		explain = false
	} else if _, err := conn.Exec(ctx, `SET auto_explain.log_format = json; SET auto_explain.log_level = notice; SET client_min_messages = notice`); err != nil {
		return fmt.Errorf("history: configure auto_explain: %w", err)
	}

	for _, q := range historyQueries(time.Now()) {
		t, err := timeQuery(ctx, conn, q, explain, plans)
		if err != nil {
			return fmt.Errorf("history: %s %s: %w", q.kind, q.name, err)
		}
		res.Queries = append(res.Queries, t)
		if q.kind == "recipe" {
			res.RecipesMs[q.name] = t.Ms
			res.RecipesFirstMs[q.name] = t.FirstMs
		}
		cfg.progress("history: %s %s: %.1f ms (first run %.1f ms)", q.kind, q.name, t.Ms, t.FirstMs)
	}
	return nil
}

// timeQuery runs q once timed as the first run, historyRuns times timed,
// and once more with auto_explain on to learn its plans.
func timeQuery(ctx context.Context, conn *pgx.Conn, q historyQuery, explain bool, plans *planRecorder) (QueryTiming, error) {
	t := QueryTiming{Name: q.name, Kind: q.kind, Indexes: []string{}, SeqScans: []string{}}
	start := time.Now()
	if err := q.run(ctx, conn); err != nil {
		return t, err
	}
	t.FirstMs = ms(time.Since(start))
	runs := make([]time.Duration, historyRuns)
	for i := range runs {
		start := time.Now()
		if err := q.run(ctx, conn); err != nil {
			return t, err
		}
		runs[i] = time.Since(start)
	}
	t.Ms = percentileMs(runs, 0.5)
	if !explain {
		return t, nil
	}

	indexes, seqScans, workers, err := explainedRun(ctx, conn, q, plans)
	if err != nil {
		return t, err
	}
	t.PlanRecorded, t.Indexes, t.SeqScans, t.ParallelWorkers = true, indexes, seqScans, workers
	t.IndexUsed = indexUsed(indexes, seqScans)
	if workers > 0 {
		// Starting parallel workers costs from about a millisecond to tens
		// of them, depending on how fast the server's machine forks; the
		// serial median tells that cost apart from the query's own.
		if t.SerialMs, t.SerialWorkers, err = serialMedian(ctx, conn, q, plans); err != nil {
			return t, err
		}
	}
	return t, nil
}

// serialMedian is the median of historyRuns runs of q with parallel query
// off in the session, and the most parallel workers the plans of one more
// run planned, which must be 0.
func serialMedian(ctx context.Context, conn *pgx.Conn, q historyQuery, plans *planRecorder) (ms float64, workers int, err error) {
	// Prepared statements keep the plans made when they were prepared,
	// whatever the session's settings say since: deallocated, they are
	// planned again, under the setting in force.
	setting := func(sql string) error {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("%s: %w", sql, err)
		}
		if err := conn.DeallocateAll(ctx); err != nil {
			return fmt.Errorf("deallocate prepared statements after %s: %w", sql, err)
		}
		return nil
	}
	if err := setting(`SET max_parallel_workers_per_gather = 0`); err != nil {
		return 0, 0, err
	}
	defer func() {
		if resetErr := setting(`RESET max_parallel_workers_per_gather`); resetErr != nil && err == nil {
			err = resetErr
		}
	}()
	runs := make([]time.Duration, historyRuns)
	for i := range runs {
		start := time.Now()
		if err := q.run(ctx, conn); err != nil {
			return 0, 0, err
		}
		runs[i] = time.Since(start)
	}
	_, _, workers, err = explainedRun(ctx, conn, q, plans)
	if err != nil {
		return 0, 0, err
	}
	return percentileMs(runs, 0.5), workers, nil
}

// explainedRun runs q once with auto_explain on and returns what its plans
// read (see planRecorder.scans).
func explainedRun(ctx context.Context, conn *pgx.Conn, q historyQuery, plans *planRecorder) (indexes, seqScans []string, workers int, err error) {
	plans.reset()
	if _, err := conn.Exec(ctx, `SET auto_explain.log_min_duration = 0`); err != nil {
		return nil, nil, 0, fmt.Errorf("enable auto_explain: %w", err)
	}
	runErr := q.run(ctx, conn)
	if _, err := conn.Exec(ctx, `SET auto_explain.log_min_duration = -1`); err != nil {
		return nil, nil, 0, fmt.Errorf("disable auto_explain: %w", err)
	}
	if runErr != nil {
		return nil, nil, 0, runErr
	}
	return plans.scans()
}

// indexUsed reports whether a query's plans find their generations through
// an index. Any index is not enough: a list query reads
// generation_images_pkey for the images of the rows it found by reading
// generations whole.
func indexUsed(indexes, seqScans []string) bool {
	return len(indexes) > 0 && !slices.Contains(seqScans, "generations")
}

// planRecorder keeps the plans auto_explain sends as notices.
type planRecorder struct {
	mu    sync.Mutex
	plans []string
}

func (r *planRecorder) notice(_ *pgconn.PgConn, n *pgconn.Notice) {
	if _, plan, ok := strings.Cut(n.Message, "plan:"); ok {
		r.mu.Lock()
		r.plans = append(r.plans, plan)
		r.mu.Unlock()
	}
}

func (r *planRecorder) reset() {
	r.mu.Lock()
	r.plans = nil
	r.mu.Unlock()
}

// planNode is the part of a JSON plan node that tells how tables are read.
type planNode struct {
	NodeType       string     `json:"Node Type"`
	IndexName      string     `json:"Index Name"`
	Relation       string     `json:"Relation Name"`
	WorkersPlanned int        `json:"Workers Planned"`
	Plans          []planNode `json:"Plans"`
}

// scans returns the indexes and the sequentially scanned tables of the
// recorded plans, each sorted and listed once, empty rather than nil, and
// the most parallel workers any Gather of them planned.
func (r *planRecorder) scans() (indexes, seqScans []string, workers int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var walk func(n planNode)
	walk = func(n planNode) {
		switch {
		case n.IndexName != "":
			indexes = append(indexes, n.IndexName)
		case n.NodeType == "Seq Scan":
			seqScans = append(seqScans, n.Relation)
		}
		workers = max(workers, n.WorkersPlanned)
		for _, child := range n.Plans {
			walk(child)
		}
	}
	for _, raw := range r.plans {
		var plan struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal([]byte(raw), &plan); err != nil {
			return nil, nil, 0, fmt.Errorf("parse auto_explain plan: %w", err)
		}
		walk(plan.Plan)
	}
	slices.Sort(indexes)
	slices.Sort(seqScans)
	return append([]string{}, slices.Compact(indexes)...), append([]string{}, slices.Compact(seqScans)...), workers, nil
}
