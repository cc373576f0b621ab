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

	"github.com/jackc/pgx/v5"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/serve"
)

// The bodies the bench enqueues. metadata.bench tells the two phases apart in
// the database.
var (
	loadBody  = []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"bench": "load"}}`)
	probeBody = []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"bench": "idle"}}`)
	burstBody = []byte(`{"prompt": "a lighthouse at dusk, oil painting", "image_prompt_1": {"image_url": "https://example.com/reference.png"}, "metadata": {"bench": "burst"}}`)
)

const (
	// stallTimeout fails the run when no generation was recorded for this
	// long: something is broken, and waiting longer measures nothing.
	stallTimeout = time.Minute
	// progressInterval is how often progress is reported.
	progressInterval = time.Second
)

// idleProbes is how many generations are enqueued one at a time after the
// load, each after the previous one was recorded, to measure latency on an
// idle system.
func idleProbes(n int) int { return max(10, min(50, n/100)) }

// After the idle probes, burstCount bursts of burstSize concurrent
// enqueues, each burst once the previous one was recorded: what a service
// enqueueing a few images at once sees. Enqueues close together share one
// River insert notification, so this is where a slow fetch poll shows.
const (
	burstCount = 10
	burstSize  = 3
)

// pipeline runs the whole of Easel in this process: easel serve (HTTP API,
// River workers, webhook receiver) against the in-process simulator at zero
// latency, fed by concurrent HTTP clients.
type pipeline struct {
	cfg    Config
	db     *database
	serve  serve.Config
	timer  *webhookTimer
	http   *http.Client
	url    string // POST /v1/generations
	apiKey string
}

// runPipeline runs the load and the idle probes through a fresh easel serve
// and fills in res's pipeline figures.
func runPipeline(ctx context.Context, cfg Config, db *database, serveCfg serve.Config, res *Result) error {
	probes := idleProbes(cfg.N) + burstCount*burstSize
	p := &pipeline{cfg: cfg, db: db, serve: serveCfg, timer: newWebhookTimer(2 * cfg.Concurrency)}
	var err error
	if p.apiKey, err = createAPIKey(ctx, db.url); err != nil {
		return err
	}

	// Everything easel serve does but what makes it a benchmark: its own
	// database, an ephemeral loopback port, the simulator with no latency
	// and a timed webhook sender, and caps that never bind on one client's
	// burst, though every request still pays for checking them.
	p.serve.DatabaseURL = db.url
	p.serve.Addr = "127.0.0.1:0"
	p.serve.PublicURL = ""
	p.serve.FalKey = ""
	p.serve.Role = serve.RoleAll
	for _, limit := range []*int{&p.serve.MaxInflight, &p.serve.ClientMaxInflight, &p.serve.ClientMaxPending} {
		if *limit > 0 { // 0 is no cap
			*limit = max(*limit, cfg.N+probes)
		}
	}
	if cfg.NoInflightCap {
		p.serve.MaxInflight, p.serve.ClientMaxInflight = 0, 0
	}
	p.serve.Simulator = &falsim.Config{HTTPClient: p.timer.client()}
	res.Workers, res.MaxInflight = p.serve.Workers, p.serve.MaxInflight

	commitsBefore, err := db.commits(ctx)
	if err != nil {
		return err
	}
	srv, addr, err := startServe(ctx, p.serve, cfg.Logger)
	if err != nil {
		return err
	}
	defer func() { _ = srv.shutdown() }() // on early returns; checked below otherwise
	p.url = "http://" + addr + "/v1/generations"
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = cfg.Concurrency
	p.http = &http.Client{Transport: transport, Timeout: time.Minute}
	defer transport.CloseIdleConnections()

	if err := p.load(ctx, res); err != nil {
		return err
	}
	if err := p.probe(ctx, idleProbes(cfg.N)); err != nil {
		return err
	}
	if err := p.bursts(ctx, cfg.N+idleProbes(cfg.N)); err != nil {
		return err
	}
	if err := srv.shutdown(); err != nil {
		return err
	}
	commitsAfter, err := db.commits(ctx)
	if err != nil {
		return err
	}
	res.CommitsPerGeneration = float64(commitsAfter-commitsBefore) / float64(cfg.N+probes)
	return p.readTimings(ctx, res)
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

// shutdown stops the server and waits for it to finish.
func (s *server) shutdown() error {
	s.stop()
	<-s.done
	return s.err
}

// load enqueues N generations from Concurrency clients and waits until all
// of them are recorded.
func (p *pipeline) load(ctx context.Context, res *Result) error {
	n := p.cfg.N
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

	loadCtx, cancelLoad := context.WithCancel(ctx)
	defer cancelLoad()
	start := time.Now()
	clients := p.startClients(loadCtx, cancelLoad, n)
	defer func() {
		cancelLoad()
		_ = clients.wait() // no client outlives load; errors are returned below
	}()
	type ack struct {
		at  time.Time
		err error
	}
	recorded := make(chan ack, 1)
	go func() {
		at, err := p.timer.waitAcked(loadCtx, n)
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
				return cmp.Or(clients.wait(), r.err) // a client's error says why
			}
			end = r.at
		case now := <-ticker.C:
			acked, failed := p.timer.acked()
			p.cfg.progress("pipeline: %d/%d enqueued, %d recorded (%.0f/s), %d webhook deliveries failed",
				clients.enqueued.Load(), n, acked, float64(acked-lastAcked)/progressInterval.Seconds(), failed)
			if acked != lastAcked {
				lastAcked, lastChange = acked, now
			} else if now.Sub(lastChange) > stallTimeout {
				cancelLoad()
				return cmp.Or(clients.wait(), fmt.Errorf("pipeline stalled: %d of %d generations recorded, none in the last %s; %d webhook deliveries failed",
					acked, n, stallTimeout, failed))
			}
		}
	}
	if err := clients.wait(); err != nil {
		return err
	}
	stopActivity()
	sample := <-activity
	if sample.err != nil {
		return sample.err
	}
	res.DatabaseActivity = sample.activity

	res.E2EGenerationsPerSec = float64(n) / end.Sub(start).Seconds()
	all := slices.Concat(clients.latencies...)
	res.EnqueueP50Ms, res.EnqueueP99Ms = percentileMs(all, 0.50), percentileMs(all, 0.99)
	webhooks := p.timer.latenciesOf(0, n)
	res.WebhookP50Ms, res.WebhookP99Ms = percentileMs(webhooks, 0.50), percentileMs(webhooks, 0.99)
	_, res.WebhookFailures = p.timer.acked()
	p.cfg.progress("pipeline: %d generations in %s", n, end.Sub(start).Round(time.Millisecond))
	return nil
}

// clients are the goroutines that enqueue the load.
type clients struct {
	wg        sync.WaitGroup
	enqueued  atomic.Int64
	errOnce   sync.Once
	err       error
	latencies [][]time.Duration // per client
}

// startClients enqueues n generations from Concurrency goroutines. The first
// error cancels the others.
func (p *pipeline) startClients(ctx context.Context, cancel context.CancelFunc, n int) *clients {
	c := &clients{latencies: make([][]time.Duration, p.cfg.Concurrency)}
	var next atomic.Int64
	for i := range p.cfg.Concurrency {
		c.wg.Go(func() {
			for next.Add(1) <= int64(n) {
				d, err := p.enqueue(ctx, loadBody)
				if err != nil {
					c.errOnce.Do(func() { c.err = err })
					cancel()
					return
				}
				c.latencies[i] = append(c.latencies[i], d)
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

// probe enqueues count generations one at a time, each once the previous one
// was recorded.
func (p *pipeline) probe(ctx context.Context, count int) error {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(count)*stallTimeout)
	defer cancel()
	for i := range count {
		if _, err := p.enqueue(ctx, probeBody); err != nil {
			return err
		}
		if _, err := p.timer.waitAcked(ctx, p.cfg.N+i+1); err != nil {
			return fmt.Errorf("idle probe %d of %d: wait for its webhook: %w", i+1, count, err)
		}
	}
	p.cfg.progress("pipeline: %d idle probes recorded", count)
	return nil
}

// bursts enqueues burstCount bursts of burstSize generations at once, each
// burst once the previous one was recorded; done generations were recorded
// before the first.
func (p *pipeline) bursts(ctx context.Context, done int) error {
	ctx, cancel := context.WithTimeout(ctx, burstCount*stallTimeout)
	defer cancel()
	for i := range burstCount {
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
		if _, err := p.timer.waitAcked(ctx, done+(i+1)*burstSize); err != nil {
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

// readTimings reads each generation's timestamps, which Postgres set, and
// checks that every generation completed.
func (p *pipeline) readTimings(ctx context.Context, res *Result) error {
	conn, err := pgx.Connect(ctx, p.db.url)
	if err != nil {
		return fmt.Errorf("read generation timings: connect: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT metadata->>'bench', count(*), count(*) FILTER (WHERE status = 'completed'),
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM submitted_at - created_at)::float8), 0) * 1000,
			coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)::float8), 0) * 1000,
			coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at)::float8), 0) * 1000,
			coalesce(max(extract(epoch FROM submitted_at - created_at)::float8), 0) * 1000
		FROM generations GROUP BY 1`)
	if err != nil {
		return fmt.Errorf("read generation timings: %w", err)
	}
	var (
		phase                           string
		total, completed                int
		submitted, complete, complete99 float64
		submittedMax                    float64
	)
	_, err = pgx.ForEachRow(rows, []any{&phase, &total, &completed, &submitted, &complete, &complete99, &submittedMax}, func() error {
		switch phase {
		case "load":
			res.Completed, res.Failed = completed, total-completed
			res.LoadedEnqueueToSubmittedP50Ms = submitted
			res.CompleteP50Ms, res.CompleteP99Ms = complete, complete99
		case "idle":
			res.EnqueueToSubmittedP50Ms = submitted
			res.IdleCompleteP50Ms = complete
		case "burst":
			res.BurstEnqueueToSubmittedMaxMs = submittedMax
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read generation timings: %w", err)
	}
	if res.Completed != p.cfg.N {
		return fmt.Errorf("%d of %d generations completed", res.Completed, p.cfg.N)
	}
	return nil
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
