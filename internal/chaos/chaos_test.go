package chaos

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/fal/falsim"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

var (
	fullRun    = flag.Bool("chaos.full", false, "run the full chaos test (make chaos): 1,000 generations, Postgres restarted")
	reportPath = flag.String("chaos.report", "", "write the run's figures as JSON to this file")
)

// scenario is one chaos run. Its disruptions are set off by submissions
// that fal accepted, not by the clock (see disruptions_test.go).
type scenario struct {
	generations          int
	load                 time.Duration // the enqueues are spread over it
	kills                int           // SIGKILLs of the worker processes
	killEvery            int           // kill n once n*killEvery submissions were accepted
	receiverDownAfter    int           // submissions before the receiver goes down
	receiverRefusals     int           // deliveries it refuses before it is back up
	restartPostgresAfter int           // submissions before Postgres restarts; zero: it does not
	drain                time.Duration // most the run may take to settle after the load
}

var (
	// The short run's kills come early, so that the submit jobs they strand
	// are rescued (River's rescuer runs every 30 seconds) while the rest of
	// the load goes on: it lasts about 30 seconds instead of a minute.
	shortScenario = scenario{
		generations: 200, load: 8 * time.Second, kills: 4, killEvery: 10,
		receiverDownAfter: 50, receiverRefusals: 10, drain: 2 * time.Minute,
	}
	fullScenario = scenario{
		generations: 1000, load: 45 * time.Second, kills: 15, killEvery: 50,
		receiverDownAfter: 200, receiverRefusals: 30, restartPostgresAfter: 500, drain: 10 * time.Minute,
	}
)

// The Easel configuration under test.
const (
	maxInflight = 8
	workers     = 8
)

// simFlags are the faults of `easel sim`: 5% of submits answered 5xx and 2%
// 429, webhooks dropped (5%), delivered twice (20%) and delayed, requests
// failing (2%), carrying a payload_error (2%) or bounced between runners
// (5%), and webhook retries 20 times faster than fal's, so that deliveries
// refused while the receiver is down come back within the run.
var simFlags = []string{
	"--seed", "7", "--latency", "50ms..300ms", "--max-concurrency", "0",
	"--submit-error-rate", "0.05", "--rate-limit-rate", "0.02",
	"--fail-rate", "0.02", "--payload-error-rate", "0.02", "--bounce-rate", "0.05",
	"--webhook-drop-rate", "0.05", "--webhook-duplicate-rate", "0.2", "--webhook-delay", "200ms",
	"--webhook-timeout", "3s", "--time-scale", "20",
}

// modelFailures are the error codes of the simulator's --fail-rate.
var modelFailures = []string{"image_load_error", "no_media_generated", "content_policy_violation"}

// Report is the figures of one run, for docs/RELIABILITY.md.
type Report struct {
	Generations      int            `json:"generations"`
	Accepted         int            `json:"accepted"`
	Lost             int            `json:"lost"`
	ByStatus         map[string]int `json:"by_status"`
	EnqueueRetries   int64          `json:"enqueue_retries"`
	Kills            map[string]int `json:"kills"`
	Crashes          []string       `json:"crashes"`
	PostgresRestarts int            `json:"postgres_restarts"`
	ReceiverDown     string         `json:"receiver_down"`
	WebhooksRefused  int            `json:"webhooks_refused_while_down"`
	Sim              falsim.Stats   `json:"sim"`
	DuplicateEvents  int            `json:"duplicate_webhook_events"`
	LateEvents       int            `json:"late_webhook_events"`
	Polled           int            `json:"completed_by_reconciler"`
	FalSubmissions   int            `json:"fal_submissions"`
	Unconfirmed      int            `json:"unconfirmed_submissions"`
	ExtraPaid        int            `json:"extra_paid_submissions"`
	// UnconfirmedBy says what lost each unconfirmed submission's answer: a
	// "kill" (the submit job was rescued from a dead process), a "job
	// error" (such as the database restarting), or "other".
	UnconfirmedBy map[string]int `json:"unconfirmed_by_cause"`
	PaidHistogram map[int]int    `json:"generations_by_fal_submissions"`
	Elapsed       string         `json:"elapsed"`
}

func TestChaos(t *testing.T) {
	t.Parallel()
	sc := shortScenario
	if *fullRun {
		sc = fullScenario
	}
	// Every generation is submitted at least once, so the submissions that
	// set the disruptions off all come while generations remain to submit.
	for _, mark := range []int{sc.kills * sc.killEvery, sc.receiverDownAfter, sc.restartPostgresAfter} {
		require.Less(t, mark, sc.generations, "a disruption must come before the last submission")
	}
	started := time.Now()
	dir := t.TempDir()
	bin := buildEasel(t, dir)
	dbURL := dbtest.URL(t)
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dbURL)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	sim := startSim(t, dir, bin, simFlags)
	apiAddr, workerAddr, allAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	proxy := newReceiverProxy("http://"+apiAddr, "http://"+allAddr)
	proxyServer := httptest.NewServer(proxy)
	t.Cleanup(proxyServer.Close)

	env := []string{
		"DATABASE_URL=" + dbURL,
		"EASEL_PUBLIC_URL=" + proxyServer.URL,
		"FAL_KEY=chaos-key",
		"FAL_QUEUE_URL=" + sim.url,
		"FAL_JWKS_URL=" + sim.url + "/.well-known/jwks.json",
		fmt.Sprintf("FAL_MAX_INFLIGHT=%d", maxInflight),
		fmt.Sprintf("EASEL_WORKERS=%d", workers),
		"EASEL_POLL_AFTER=2s",
		"EASEL_TIMEOUT=10m",
		"EASEL_RESCUE_AFTER=6s",
	}
	serve := func(name, role, addr string) *process {
		p := startProcess(t, dir, bin, name, []string{"serve", "--role", role}, append(slices.Clone(env), "EASEL_ADDR="+addr))
		p.addr = addr
		return p
	}
	apiProc := serve("api", "api", apiAddr)
	workerProc := serve("worker", "worker", workerAddr)
	allProc := serve("all", "all", allAddr)
	for _, p := range []*process{apiProc, workerProc, allProc} {
		p.awaitReady(t)
	}

	// The deadline only turns a run that cannot finish into a failure.
	runCtx, cancelRun := context.WithTimeout(ctx, sc.load+sc.drain)
	var chaos sync.WaitGroup
	defer func() {
		cancelRun()
		chaos.Wait()
	}()

	apiKey, _, err := api.CreateKey(ctx, pool, "chaos")
	require.NoError(t, err)
	load := newLoadClient(apiKey, "http://"+apiAddr, "http://"+allAddr)
	loadDone := make(chan error, 1)
	go func() { loadDone <- load.run(runCtx, sc.generations, sc.load) }()

	// The chaos, set off by the load's progress; each ends once it has
	// happened in full.
	var (
		killErr, outageErr, postgresErr error
		receiverDown                    time.Duration
		postgresRestarts                int
	)
	chaos.Go(func() { killErr = killWorkers(runCtx, sim, sc, workerProc, allProc) })
	chaos.Go(func() { receiverDown, outageErr = receiverOutage(runCtx, sim, sc, proxy) })
	if sc.restartPostgresAfter > 0 {
		chaos.Go(func() {
			if postgresErr = restartPostgres(runCtx, sim, sc); postgresErr == nil {
				postgresRestarts++
			}
		})
	}

	require.NoError(t, <-loadDone, "every generation is eventually accepted")
	chaos.Wait()
	require.NoError(t, killErr)
	require.NoError(t, outageErr)
	require.NoError(t, postgresErr)
	t.Logf("load and chaos done %s after the start; waiting for every generation to finish", time.Since(started).Round(time.Second))

	awaitSettled(t, ctx, dbURL, sc.drain)

	rep := check(t, ctx, pool, sc, load, sim)
	rep.Kills = map[string]int{}
	for _, p := range []*process{apiProc, workerProc, allProc} {
		kills, crashes := p.counts()
		rep.Kills[p.name] = kills
		rep.Crashes = append(rep.Crashes, crashes...)
	}
	rep.PostgresRestarts = postgresRestarts
	rep.ReceiverDown = receiverDown.Round(time.Millisecond).String()
	rep.WebhooksRefused = proxy.refusals()
	rep.EnqueueRetries = load.retries.Load()
	rep.Elapsed = time.Since(started).Round(time.Second).String()

	// Every disruption happened in full: the chaos goroutines end only then.
	totalKills := rep.Kills["worker"] + rep.Kills["all"]
	require.Equal(t, sc.kills, totalKills, "the worker processes were killed while generations remained to submit")
	require.Equal(t, sc.receiverRefusals, rep.WebhooksRefused, "the receiver was down while webhooks came")
	if sc.restartPostgresAfter > 0 {
		require.Equal(t, 1, postgresRestarts, "Postgres restarted while generations remained to submit")
	}
	// Every extra paid submission is an unconfirmed one: its answer was
	// lost to a kill (or to the database restarting as it was recorded),
	// and each kill or restart can lose at most one per worker slot.
	require.LessOrEqual(t, rep.ExtraPaid, rep.Unconfirmed)
	require.LessOrEqual(t, rep.Unconfirmed, (totalKills+2*postgresRestarts)*workers)

	summary, err := json.MarshalIndent(rep, "", "  ")
	require.NoError(t, err)
	t.Logf("chaos report:\n%s", summary)
	if *reportPath != "" {
		require.NoError(t, os.WriteFile(*reportPath, summary, 0o644))
	}
}

// awaitSettled waits until every generation is finished, waking on each
// finished generation's notification and re-counting at least every
// second.
func awaitSettled(t *testing.T, ctx context.Context, dbURL string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "LISTEN "+store.GenerationFinishedChannel)
	require.NoError(t, err)
	for {
		var unfinished int
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM generations WHERE finished_at IS NULL`).Scan(&unfinished),
			"generations still unfinished after %s", timeout)
		if unfinished == 0 {
			return
		}
		wait, cancelWait := context.WithTimeout(ctx, time.Second)
		_, _ = conn.WaitForNotification(wait) // a notification, or a second passed: count again
		cancelWait()
	}
}

// check asserts the guarantees on the settled database and returns the
// figures of the run.
func check(t *testing.T, ctx context.Context, pool *pgxpool.Pool, sc scenario, load *loadClient, sim *simulator) *Report {
	t.Helper()
	rep := &Report{Generations: sc.generations, ByStatus: map[string]int{}, PaidHistogram: map[int]int{}, UnconfirmedBy: map[string]int{}}

	accepted := load.acceptedIDs()
	rep.Accepted = len(accepted)
	require.Len(t, accepted, sc.generations, "every enqueue was eventually accepted")

	type row struct {
		id                                  uuid.UUID
		status, errorCode                   string
		chaos, imageCount, images, distinct int
		fromRequest                         bool
		submissions, confirmed              int
		rescued, jobErrored, polled         bool
	}
	rows, err := pool.Query(ctx, `
		SELECT g.id, g.status, coalesce(g.error_code, ''), (g.metadata->>'chaos')::int, coalesce(g.image_count, 0),
			(SELECT count(*) FROM generation_images i WHERE i.generation_id = g.id),
			(SELECT count(DISTINCT url) FROM generation_images i WHERE i.generation_id = g.id),
			coalesce((SELECT bool_and(i.file_name LIKE g.fal_request_id || '-%') FROM generation_images i WHERE i.generation_id = g.id), true),
			g.fal_submissions, g.fal_submissions_confirmed,
			EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'submit_generation' AND j.args->>'generation_id' = g.id::text
				AND j.errors::text LIKE '%Stuck job rescued%'),
			EXISTS (SELECT 1 FROM river_job j WHERE j.kind = 'submit_generation' AND j.args->>'generation_id' = g.id::text
				AND cardinality(j.errors) > 0),
			g.status = 'completed' AND NOT EXISTS (SELECT 1 FROM webhook_events w WHERE w.generation_id = g.id AND w.outcome = 'applied')
		FROM generations g`)
	require.NoError(t, err)
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
		var g row
		err := r.Scan(&g.id, &g.status, &g.errorCode, &g.chaos, &g.imageCount, &g.images, &g.distinct, &g.fromRequest,
			&g.submissions, &g.confirmed, &g.rescued, &g.jobErrored, &g.polled)
		return g, err
	})
	require.NoError(t, err)
	require.Len(t, all, sc.generations, "one generation per request, however often it was retried")

	byID := make(map[uuid.UUID]row, len(all))
	for _, g := range all {
		byID[g.id] = g
		rep.ByStatus[g.status]++
		rep.PaidHistogram[g.submissions]++
		rep.FalSubmissions += g.submissions
		rep.Unconfirmed += g.submissions - g.confirmed
		if g.polled {
			rep.Polled++
		}
		if unconfirmed := g.submissions - g.confirmed; unconfirmed > 0 {
			switch {
			case g.rescued:
				rep.UnconfirmedBy["kill"] += unconfirmed
			case g.jobErrored:
				rep.UnconfirmedBy["job error"] += unconfirmed
			default:
				rep.UnconfirmedBy["other"] += unconfirmed
			}
		}

		require.LessOrEqual(t, g.confirmed, 1, "generation %s: fal confirmed two submissions", g.id)
		switch g.status {
		case "completed":
			want := numImages(g.chaos)
			require.Equal(t, want, g.images, "generation %s: exactly its images", g.id)
			require.Equal(t, want, g.imageCount, "generation %s", g.id)
			require.Equal(t, want, g.distinct, "generation %s: no image twice", g.id)
			require.True(t, g.fromRequest, "generation %s: all images from the request it records", g.id)
		case "failed":
			require.Contains(t, modelFailures, g.errorCode, "generation %s failed for a reason other than the model's", g.id)
			require.Zero(t, g.images, "generation %s", g.id)
		default:
			t.Errorf("generation %s ended %s", g.id, g.status)
		}
	}
	for i, id := range accepted {
		g, ok := byID[id]
		if !ok {
			rep.Lost++
			t.Errorf("accepted generation %d (%s) is lost", i, id)
			continue
		}
		require.Equal(t, i, g.chaos, "generation %s is request %d", id, i)
	}

	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE outcome = 'duplicate'), count(*) FILTER (WHERE outcome = 'late')
		FROM webhook_events`).Scan(&rep.DuplicateEvents, &rep.LateEvents))

	rep.Sim, err = sim.stats(ctx)
	require.NoError(t, err)
	rep.ExtraPaid = rep.Sim.DuplicateSubmissions
	require.LessOrEqual(t, rep.Sim.MaxInProgress, maxInflight, "fal never ran more than FAL_MAX_INFLIGHT at once")
	require.GreaterOrEqual(t, rep.FalSubmissions, rep.Sim.Submissions, "every submission fal accepted was counted")
	require.Positive(t, rep.Sim.WebhooksDropped)
	require.Positive(t, rep.DuplicateEvents, "duplicate deliveries were received and changed nothing")
	return rep
}
