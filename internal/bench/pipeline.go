package bench

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/serve"
)

// The bodies the bench enqueues. metadata.bench tells the phases apart in
// the database.
var (
	loadBody   = []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"bench": "load"}}`)
	warmupBody = []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"bench": "warmup"}}`)
	probeBody  = []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"bench": "idle"}}`)
	burstBody  = []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"bench": "burst"}}`)
)

const (
	// stallTimeout fails the run when no generation was recorded for this
	// long: something is broken, and waiting longer measures nothing.
	stallTimeout = time.Minute
	// progressInterval is how often progress is reported.
	progressInterval = time.Second
)

// idleProbes is how many generations are enqueued one at a time on an idle
// system, each once the previous one was recorded and the system is idle
// again.
func idleProbes(n int) int { return max(10, min(50, n/100)) }

// After the idle probes, burstCount bursts of burstSize concurrent
// enqueues, each burst once the system is idle again: what a service
// enqueueing a few images at once sees. Enqueues close together share one
// River insert notification, so this is where a slow fetch poll shows.
const (
	burstCount = 10
	burstSize  = 3
)

// warmupCount is how many generations the load's easel serve runs,
// unmeasured, before the load, and the idle phase's before its probes:
// enough, from every client at once, to open the pool's connections and
// prepare their statements, as a server that has been serving has them.
// Measured cold, a load's first second or two pays for opening connections
// (about 30 ms each on a machine that forks slowly, one at a time), which
// dominated the p99 latencies of a load offered at a fixed rate.
func warmupCount(n, concurrency int) int { return min(n, 4*concurrency) }

// pipeline runs the whole of Easel in this process: easel serve (HTTP API,
// River workers, webhook receiver) against the in-process simulator at zero
// latency, fed by concurrent HTTP clients. It starts three servers in turn:
// one stopped at once, whose commits are what starting and stopping cost;
// one for the load, whose commits, less those, are the load's; one for the
// idle-system latencies.
type pipeline struct {
	cfg      Config
	db       *database
	serve    serve.Config
	accepted *acceptances
	http     *http.Client
	apiKey   string

	// Of the easel serve running now.
	timer *webhookTimer
	url   string // POST /v1/generations
}

// runPipeline runs the load, the idle probes and the bursts through fresh
// easel serves and fills in res's pipeline figures.
func runPipeline(ctx context.Context, cfg Config, db *database, serveCfg serve.Config, res *Result) error {
	warmup := warmupCount(cfg.N, cfg.Concurrency)
	probes := idleProbes(cfg.N) + burstCount*burstSize
	p := &pipeline{cfg: cfg, db: db, serve: serveCfg, accepted: newAcceptances()}
	var err error
	if p.apiKey, err = createAPIKey(ctx, db.url); err != nil {
		return err
	}
	offset, err := clockOffsetOf(ctx, db.url)
	if err != nil {
		return err
	}
	res.ClockOffsetMs = ms(offset)

	// Everything easel serve does but what makes it a benchmark: its own
	// database, an ephemeral loopback port, the simulator with no latency
	// and a timed webhook sender, no shutdown delay (nobody is routed to
	// it), and caps that never bind on one client's burst, though every
	// request still pays for checking them.
	p.serve.DatabaseURL = db.url
	p.serve.Addr = "127.0.0.1:0"
	p.serve.PublicURL = ""
	p.serve.FalKey = ""
	p.serve.Role = serve.RoleAll
	p.serve.ShutdownDelay = 0
	for _, limit := range []*int{&p.serve.MaxInflight, &p.serve.ClientMaxInflight, &p.serve.ClientMaxPending} {
		if *limit > 0 { // 0 is no cap
			*limit = max(*limit, cfg.N+warmup+probes)
		}
	}
	if cfg.NoInflightCap {
		p.serve.MaxInflight, p.serve.ClientMaxInflight = 0, 0
	}
	res.Workers, res.MaxInflight = p.serve.Workers, p.serve.MaxInflight
	poolCfg, err := pgxpool.ParseConfig(db.url)
	if err != nil {
		return errors.New("DATABASE_URL: not a valid connection string") // pgx hides a password only on a best-effort basis
	}
	res.DBMaxConns = int(servePoolMaxConns(p.serve, db.url, poolCfg.MaxConns))

	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Concurrency
	p.http = &http.Client{Transport: transport, Timeout: time.Minute}
	defer transport.CloseIdleConnections()

	cfg.progress("pipeline: an easel serve started and stopped at once, to count what that commits")
	if res.ServeStartStopCommits, err = p.countCommits(ctx, "starting it", func(context.Context) error { return nil }); err != nil {
		return err
	}
	if res.LoadCommits, err = p.countCommits(ctx, "the load", func(ctx context.Context) error { return p.load(ctx, res, warmup) }); err != nil {
		return err
	}
	// The load's server also ran the warm-up, whose commits are counted.
	res.CommitsPerGeneration = float64(res.LoadCommits-res.ServeStartStopCommits) / float64(cfg.N+warmup)
	cfg.progress("pipeline: %.2f commits per generation (%d in the load's easel serve for %d generations and %d of warm-up, less %d for starting and stopping one)",
		res.CommitsPerGeneration, res.LoadCommits, cfg.N, warmup, res.ServeStartStopCommits)

	res.WarmupGenerations = warmup
	if err := p.idle(ctx, warmup); err != nil {
		return err
	}
	cfg.progress("pipeline: reading the generations' timings")
	return p.readTimings(ctx, res, offset)
}

// offered says at what rate the load is offered, when it is.
func offered(rate float64) string {
	if rate <= 0 {
		return ""
	}
	return fmt.Sprintf(", offered at %g/s", rate)
}

// countCommits runs work in an easel serve of its own and returns the bench
// database's commits from before that server started to after it stopped.
// Only then is the count complete: a backend publishes its counts to
// pg_stat_database when it ends, and otherwise only at the end of a
// transaction at least a second after it last did, so an idle pool
// connection can hold the counts of its last transactions indefinitely.
func (p *pipeline) countCommits(ctx context.Context, what string, work func(context.Context) error) (int64, error) {
	before, err := p.db.commits(ctx)
	if err != nil {
		return 0, err
	}
	srv, err := p.start(ctx)
	if err != nil {
		return 0, err
	}
	if err := work(ctx); err != nil {
		_ = srv.shutdown()
		return 0, err
	}
	p.cfg.progress("pipeline: stopping easel serve after %s, then reading its commits once its connections have closed", what)
	p.closeIdleConns()
	stop := heartbeat(p.cfg.progress, func(elapsed time.Duration) string {
		return fmt.Sprintf("pipeline: stopping easel serve and reading its commits, %s", elapsed.Round(time.Second))
	})
	err = srv.shutdown()
	var after int64
	if err == nil {
		after, err = p.db.commits(ctx)
	}
	stop()
	if err != nil {
		return 0, err
	}
	return after - before, nil
}

// start starts an easel serve with a webhook timer of its own.
func (p *pipeline) start(ctx context.Context) (*server, error) {
	p.timer = newWebhookTimer(2 * p.cfg.Concurrency)
	cfg := p.serve
	cfg.Simulator = &falsim.Config{HTTPClient: p.timer.client(), OnSubmit: p.accepted.record}
	srv, addr, err := startServe(ctx, cfg, p.cfg.Logger)
	if err != nil {
		return nil, err
	}
	p.url = "http://" + addr + "/v1/generations"
	return srv, nil
}

// closeIdleConns closes the idle connections of the clients and of the
// simulator's webhook sender to the running server before it stops. Their
// transports dial a connection for a request and, when another connection
// frees up first, keep the new one idle without ever sending a request on
// it. The server's Shutdown waits up to 5 s for such a connection, and
// the commits of what runs meanwhile would count as the load's.
func (p *pipeline) closeIdleConns() {
	p.http.CloseIdleConnections()
	p.timer.closeIdle()
}

// idle measures latencies on an idle system in an easel serve of its own:
// warmup generations first, unmeasured, then the probes and the bursts.
func (p *pipeline) idle(ctx context.Context, warmup int) error {
	srv, err := p.start(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = srv.shutdown() }() // on early returns; checked below otherwise
	conn, err := pgx.Connect(ctx, p.db.url)
	if err != nil {
		return fmt.Errorf("idle phase: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	p.cfg.progress("pipeline: warm-up of a fresh easel serve, %d generations from %d clients", warmup, p.cfg.Concurrency)
	if _, err := p.run(ctx, "warm-up", warmupBody, warmup, 0); err != nil {
		return err
	}
	if err := p.probe(ctx, conn, idleProbes(p.cfg.N)); err != nil {
		return err
	}
	if err := p.bursts(ctx, conn); err != nil {
		return err
	}
	p.cfg.progress("pipeline: stopping easel serve")
	p.closeIdleConns()
	stop := heartbeat(p.cfg.progress, func(elapsed time.Duration) string {
		return fmt.Sprintf("pipeline: stopping easel serve, %s", elapsed.Round(time.Second))
	})
	defer stop()
	return srv.shutdown()
}

// clockOffsetOf reads how far Postgres's clock is ahead of this process's.
func clockOffsetOf(ctx context.Context, dbURL string) (time.Duration, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, fmt.Errorf("read Postgres's clock: connect: %w", err)
	}
	defer conn.Close(ctx)
	return readClockOffset(ctx, conn)
}

// server is an easel serve running in this process.
type server struct {
	stop context.CancelFunc
	done chan struct{}
	err  error
}

// startServe runs easel serve with cfg until shutdown and returns its
// address once it accepts requests. Its warnings and errors go to logger;
// its info logs are formatted and discarded, costing what they cost in
// production.
func startServe(ctx context.Context, cfg serve.Config, logger *slog.Logger) (*server, string, error) {
	serveLogger := slog.New(slog.NewMultiHandler(slog.NewJSONHandler(io.Discard, nil), logger.Handler()))
	ctx, stop := context.WithCancel(ctx)
	s := &server{stop: stop, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(s.done)
		if err := serve.Run(ctx, cfg, serveLogger, func(addr string) { ready <- addr }); err != nil {
			s.err = fmt.Errorf("easel serve: %w", err)
		}
	}()
	select {
	case addr := <-ready:
		return s, addr, nil
	case <-s.done:
		stop()
		if s.err == nil {
			return nil, "", errors.New("easel serve stopped before it was ready")
		}
		return nil, "", s.err
	}
}

// shutdown stops the server and waits for it to finish. Calling it again
// returns the same.
func (s *server) shutdown() error {
	s.stop()
	<-s.done
	return s.err
}

// load runs warmup generations unmeasured, then enqueues N generations from
// Concurrency clients, waits until all of them are recorded, and sets res's
// load figures.
func (p *pipeline) load(ctx context.Context, res *Result, warmup int) error {
	n := p.cfg.N
	p.cfg.progress("pipeline: warm-up of the load's easel serve, %d generations from %d clients", warmup, p.cfg.Concurrency)
	if _, err := p.run(ctx, "warm-up", warmupBody, warmup, 0); err != nil {
		return err
	}
	p.cfg.progress("pipeline: %d generations from %d clients%s", n, p.cfg.Concurrency, offered(p.cfg.Rate))
	if p.cfg.CPUProfile != nil {
		if err := pprof.StartCPUProfile(p.cfg.CPUProfile); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	activityCtx, stopActivity := context.WithCancel(ctx)
	defer stopActivity()
	type sampled struct {
		activity *Activity
		err      error
	}
	activity := make(chan sampled, 1)
	go func() {
		a, err := sampleActivity(activityCtx, p.db.adminURL, p.db.name)
		activity <- sampled{a, err}
	}()

	run, err := p.run(ctx, "pipeline", loadBody, n, p.cfg.Rate)
	if err != nil {
		return err
	}
	stopActivity()
	sample := <-activity
	if sample.err != nil {
		return sample.err
	}
	res.DatabaseActivity = sample.activity

	res.E2EGenerationsPerSec = float64(n) / run.end.Sub(run.start).Seconds()
	res.EnqueuesPerSec = float64(n) / run.lastEnqueued.Sub(run.start).Seconds()
	res.EnqueueP50Ms, res.EnqueueP99Ms = percentileMs(run.latencies, 0.50), percentileMs(run.latencies, 0.99)
	webhooks := p.timer.latenciesOf(warmup, warmup+n)
	res.WebhookP50Ms, res.WebhookP99Ms = percentileMs(webhooks, 0.50), percentileMs(webhooks, 0.99)
	_, res.WebhookFailures = p.timer.acked()
	p.cfg.progress("pipeline: %d generations in %s", n, run.end.Sub(run.start).Round(time.Millisecond))
	return nil
}

// loadRun is what run measured.
type loadRun struct {
	start        time.Time // the first enqueue sent
	lastEnqueued time.Time // the last enqueue answered
	end          time.Time // the n-th webhook acknowledged
	latencies    []time.Duration
}

// run enqueues n generations with body from Concurrency clients, at rate
// per second in all if rate > 0, as fast as they are answered otherwise,
// and waits until the running server has recorded n more generations.
func (p *pipeline) run(ctx context.Context, label string, body []byte, n int, rate float64) (loadRun, error) {
	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	before, _ := p.timer.acked() // of an earlier run on the same server
	start := time.Now()
	clients := p.startClients(loadCtx, cancelLoad, body, n, rate, start)
	defer func() {
		cancelLoad()
		_ = clients.wait() // no client outlives run; errors are returned below
	}()
	type ack struct {
		at  time.Time
		err error
	}
	recorded := make(chan ack, 1)
	go func() {
		at, err := p.timer.waitAcked(loadCtx, before+n)
		recorded <- ack{at, err}
	}()

	ticker := time.NewTicker(progressInterval)
	defer ticker.Stop()
	lastAcked, lastChange := 0, start
	var end time.Time
	for end.IsZero() {
		select {
		case r := <-recorded:
			if r.err != nil {
				return loadRun{}, cmp.Or(clients.wait(), r.err) // a client's error says why
			}
			end = r.at
		case now := <-ticker.C:
			acked, failed := p.timer.acked()
			acked -= before
			p.cfg.progress("%s: %d/%d enqueued, %d recorded (%.0f/s), %d webhook deliveries failed",
				label, clients.enqueued.Load(), n, acked, float64(acked-lastAcked)/progressInterval.Seconds(), failed)
			if acked != lastAcked {
				lastAcked, lastChange = acked, now
			} else if now.Sub(lastChange) > stallTimeout {
				cancelLoad()
				return loadRun{}, cmp.Or(clients.wait(), fmt.Errorf("%s stalled: %d of %d generations recorded, none in the last %s; %d webhook deliveries failed",
					label, acked, n, stallTimeout, failed))
			}
		}
	}
	if err := clients.wait(); err != nil {
		return loadRun{}, err
	}
	run := loadRun{start: start, end: end, latencies: slices.Concat(clients.latencies...)}
	for _, at := range clients.lastAt {
		if at.After(run.lastEnqueued) {
			run.lastEnqueued = at
		}
	}
	return run, nil
}

// clients are the goroutines that enqueue a load.
type clients struct {
	wg        sync.WaitGroup
	enqueued  atomic.Int64
	errOnce   sync.Once
	err       error
	latencies [][]time.Duration // per client
	lastAt    []time.Time       // per client, its last answer
}

// startClients enqueues n generations from Concurrency goroutines. With
// rate > 0 the k-th enqueue (from 0) is due at start + k/rate, open loop:
// it waits for its time, not for an earlier answer, unless every client is
// still waiting for one. The first error cancels the others.
func (p *pipeline) startClients(ctx context.Context, cancel context.CancelFunc, body []byte, n int, rate float64, start time.Time) *clients {
	c := &clients{latencies: make([][]time.Duration, p.cfg.Concurrency), lastAt: make([]time.Time, p.cfg.Concurrency)}
	fail := func(err error) {
		c.errOnce.Do(func() { c.err = err })
		cancel()
	}
	var next atomic.Int64
	for i := range p.cfg.Concurrency {
		c.wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= int64(n) {
					return
				}
				if rate > 0 {
					due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
					if err := pause(ctx, time.Until(due)); err != nil {
						fail(fmt.Errorf("enqueue: %w", err))
						return
					}
				}
				d, err := p.enqueue(ctx, body)
				if err != nil {
					fail(err)
					return
				}
				c.latencies[i] = append(c.latencies[i], d)
				c.lastAt[i] = time.Now()
				c.enqueued.Add(1)
			}
		})
	}
	return c
}

// wait waits for every client to stop and returns the first error.
func (c *clients) wait() error {
	c.wg.Wait()
	return c.err
}

// probe enqueues count generations one at a time, each once the system is
// idle: the previous one recorded, no generation unfinished, River's queue
// empty.
func (p *pipeline) probe(ctx context.Context, conn *pgx.Conn, count int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(count)*stallTimeout)
	defer cancel()
	p.cfg.progress("pipeline: %d idle probes, one at a time, each once River has marked the previous one's jobs completed", count)
	base, _ := p.timer.acked()
	lastReport := time.Now()
	for i := range count {
		if time.Since(lastReport) >= progressInterval {
			lastReport = time.Now()
			p.cfg.progress("pipeline: %d/%d idle probes recorded", i, count)
		}
		if err := waitIdle(ctx, conn); err != nil {
			return fmt.Errorf("idle probe %d of %d: %w", i+1, count, err)
		}
		if _, err := p.enqueue(ctx, probeBody); err != nil {
			return err
		}
		if _, err := p.timer.waitAcked(ctx, base+i+1); err != nil {
			return fmt.Errorf("idle probe %d of %d: wait for its webhook: %w", i+1, count, err)
		}
	}
	p.cfg.progress("pipeline: %d idle probes recorded", count)
	return nil
}

// bursts enqueues burstCount bursts of burstSize generations at once, each
// burst once the system is idle.
func (p *pipeline) bursts(ctx context.Context, conn *pgx.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, burstCount*stallTimeout)
	defer cancel()
	base, _ := p.timer.acked()
	lastReport := time.Now()
	for i := range burstCount {
		if time.Since(lastReport) >= progressInterval {
			lastReport = time.Now()
			p.cfg.progress("pipeline: %d/%d idle bursts recorded", i, burstCount)
		}
		if err := waitIdle(ctx, conn); err != nil {
			return fmt.Errorf("idle burst %d of %d: %w", i+1, burstCount, err)
		}
		errs := make(chan error, burstSize)
		for range burstSize {
			go func() {
				_, err := p.enqueue(ctx, burstBody)
				errs <- err
			}()
		}
		for range burstSize {
			if err := <-errs; err != nil {
				return err
			}
		}
		if _, err := p.timer.waitAcked(ctx, base+(i+1)*burstSize); err != nil {
			return fmt.Errorf("idle burst %d of %d: wait for its webhooks: %w", i+1, burstCount, err)
		}
	}
	p.cfg.progress("pipeline: %d idle bursts of %d recorded", burstCount, burstSize)
	return nil
}

// enqueue posts one generation and returns how long Easel took to accept it.
func (p *pipeline) enqueue(ctx context.Context, body []byte) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.apiKey)
	start := time.Now()
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	elapsed := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("enqueue: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return 0, fmt.Errorf("enqueue: Easel answered %s: %s", resp.Status, bytes.TrimSpace(answer))
	}
	return elapsed, nil
}

// readTimings reads each generation's timestamps, which Postgres set,
// checks that every generation of the load completed, and times each
// submission against the simulator's acceptance of it; offset is how far
// Postgres's clock is ahead of this process's.
func (p *pipeline) readTimings(ctx context.Context, res *Result, offset time.Duration) error {
	conn, err := pgx.Connect(ctx, p.db.url)
	if err != nil {
		return fmt.Errorf("read generation timings: connect: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT metadata->>'bench', count(*), count(*) FILTER (WHERE status = 'completed'),
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)::float8), 0) * 1000,
			coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)::float8), 0) * 1000
		FROM generations GROUP BY 1`)
	if err != nil {
		return fmt.Errorf("read generation timings: %w", err)
	}
	var (
		phase                string
		total, completed     int
		complete, complete99 float64
	)
	_, err = pgx.ForEachRow(rows, []any{&phase, &total, &completed, &complete, &complete99}, func() error {
		switch phase {
		case "load":
			res.Completed, res.Failed = completed, total-completed
			res.CompleteP50Ms, res.CompleteP99Ms = complete, complete99
		case "idle":
			res.IdleCompleteP50Ms = complete
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read generation timings: %w", err)
	}
	if res.Completed != p.cfg.N {
		return fmt.Errorf("%d of %d generations completed", res.Completed, p.cfg.N)
	}

	rows, err = conn.Query(ctx, `SELECT id, metadata->>'bench', created_at FROM generations WHERE metadata->>'bench' IN ('load', 'idle', 'burst')`)
	if err != nil {
		return fmt.Errorf("read generation creation times: %w", err)
	}
	var (
		created []createdRow
		r       createdRow
		id      uuid.UUID
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &r.phase, &r.createdAt}, func() error {
		r.id = id
		created = append(created, r)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read generation creation times: %w", err)
	}
	return setSubmissionFigures(res, submissionDelays(created, p.accepted.of, offset))
}

// createAPIKey creates the key the bench's clients enqueue with, so that
// requests pay for authentication as production requests do.
func createAPIKey(ctx context.Context, dbURL string) (string, error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return "", fmt.Errorf("create API key: connect: %w", err)
	}
	defer conn.Close(ctx)
	key, _, err := api.CreateKey(ctx, conn, "bench")
	if err != nil {
		return "", fmt.Errorf("create API key: %w", err)
	}
	return key, nil
}
