package history_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the recipes run in a session time zone far from UTC

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/history"
	"github.com/easelhq/easel/internal/dbtest"
)

// sessionZone is the TimeZone of the recipes' sessions. Its +05:45 offset
// moves a generation finished at 22:00 UTC onto the next local day, which
// tells a recipe that groups by UTC day from one that does not.
const sessionZone = "Asia/Kathmandu"

type testBundle struct {
	ctx  context.Context
	pool *pgxpool.Pool
	// today is the start of the current UTC day, as the database sees it.
	today time.Time
	zone  *time.Location
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["timezone"] = sessionZone
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	zone, err := time.LoadLocation(sessionZone)
	require.NoError(t, err)
	b := &testBundle{ctx: ctx, pool: pool, zone: zone}
	require.NoError(t, pool.QueryRow(ctx, `SELECT date_trunc('day', now(), 'UTC')`).Scan(&b.today))
	b.today = b.today.UTC()
	return b
}

// row is one generation to seed. Times left zero stay NULL; a terminal
// status sets finished_at (and completed_at when completed).
type row struct {
	client    string
	status    string
	created   time.Time
	runAt     time.Time
	submitted time.Time
	finished  time.Time
	inference float64
	nsfw      []bool // one entry per image, completed rows only
	errorCode string
	errorMsg  string
	webhooks  int
}

func (b *testBundle) seed(t *testing.T, r row) uuid.UUID {
	t.Helper()
	id := uuid.Must(uuid.NewV7())
	null := func(tm time.Time) *time.Time {
		if tm.IsZero() {
			return nil
		}
		return &tm
	}
	var completed, inference, hasNSFW, imageCount, nsfwCount any
	if r.status == "completed" {
		flagged := 0
		for _, n := range r.nsfw {
			if n {
				flagged++
			}
		}
		completed, inference, imageCount, nsfwCount, hasNSFW = r.finished, r.inference, len(r.nsfw), flagged, flagged > 0
	}
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, status, endpoint_id, input, created_at, run_at, submitted_at,
			completed_at, finished_at, inference_seconds, has_nsfw, image_count, nsfw_image_count, error_code, error_message)
		VALUES ($1, $2, $3, 'fal-ai/fooocus/image-prompt', '{"prompt": "a cat"}', $4, $5, $6, $7, $8, $9, $10, $11, $12,
			NULLIF($13, ''), NULLIF($14, ''))`,
		id, r.client, r.status, r.created, null(r.runAt), null(r.submitted), completed, null(r.finished),
		inference, hasNSFW, imageCount, nsfwCount, r.errorCode, r.errorMsg)
	require.NoError(t, err)
	for i, n := range r.nsfw {
		_, err := b.pool.Exec(b.ctx, `INSERT INTO generation_images (generation_id, position, url, nsfw) VALUES ($1, $2, $3, $4)`,
			id, i, fmt.Sprintf("https://example.com/%s/%d.png", id, i), n)
		require.NoError(t, err)
	}
	for range r.webhooks {
		_, err := b.pool.Exec(b.ctx, `INSERT INTO webhook_events (generation_id, body, body_size, signature_valid, outcome)
			VALUES ($1, '{}', 2, true, 'applied')`, id)
		require.NoError(t, err)
	}
	return id
}

// run returns a recipe's rows as one JSON array, in the recipe's order.
func (b *testBundle) run(t *testing.T, recipe history.Recipe) string {
	t.Helper()
	query := strings.TrimSuffix(recipe.SQL, ";")
	var out string
	err := b.pool.QueryRow(b.ctx, `SELECT coalesce(jsonb_agg(r)::text, '[]') FROM (`+query+`) r`).Scan(&out)
	require.NoError(t, err, recipe.Name)
	return out
}

// fixture is the seeded history every recipe test runs against.
type fixture struct {
	d1, d2, d10       string // the UTC dates of yesterday, two and ten days ago
	lastValidation    time.Time
	lastServerError   time.Time
	stuckSubmitted    uuid.UUID
	stuckQueued       uuid.UUID
	nsfwGeneration    uuid.UUID
	scheduledComplete uuid.UUID
	queued            uuid.UUID
}

func (b *testBundle) seedFixture(t *testing.T) fixture {
	t.Helper()
	day := func(n int) time.Time { return b.today.AddDate(0, 0, -n) }
	at := func(n int, clock string) time.Time {
		d, err := time.ParseDuration(clock)
		require.NoError(t, err)
		return day(n).Add(d)
	}
	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	var f fixture
	f.d1, f.d2, f.d10 = day(1).Format(time.DateOnly), day(2).Format(time.DateOnly), day(10).Format(time.DateOnly)

	// Yesterday: three completed (12 s, 20 s, 30 s), two validation
	// failures, one cancellation.
	a := at(1, "10h")
	b.seed(t, row{client: "alpha", status: "completed", created: a, submitted: a.Add(sec(2)), finished: a.Add(sec(12)),
		inference: 8, nsfw: []bool{false, false}, webhooks: 1})
	bb := at(1, "11h")
	f.nsfwGeneration = b.seed(t, row{client: "alpha", status: "completed", created: bb, submitted: bb.Add(sec(1)),
		finished: bb.Add(sec(20)), inference: 10, nsfw: []bool{true, false, false, true}, webhooks: 2})
	c := at(1, "22h") // in Kathmandu, already today
	b.seed(t, row{client: "beta", status: "completed", created: c, submitted: c.Add(sec(3)), finished: c.Add(sec(30)),
		inference: 15.5, nsfw: []bool{false}})
	d := at(1, "13h")
	b.seed(t, row{client: "beta", status: "failed", created: d, finished: d.Add(sec(5)),
		errorCode: "fal_validation", errorMsg: "image_url: not reachable"})
	e := at(1, "14h")
	f.lastValidation = e.Add(sec(5))
	b.seed(t, row{client: "beta", status: "failed", created: e, finished: f.lastValidation,
		errorCode: "fal_validation", errorMsg: "prompt: too long"})
	fc := at(1, "15h")
	b.seed(t, row{client: "alpha", status: "cancelled", created: fc, finished: fc.Add(sec(1)),
		errorCode: "cancelled", errorMsg: "cancelled by client"})

	// Two days ago: 40 s, and 10 s counted from a run_at five minutes
	// after creation.
	g := at(2, "9h")
	b.seed(t, row{client: "alpha", status: "completed", created: g, submitted: g.Add(sec(4)), finished: g.Add(sec(40)),
		inference: 20, nsfw: []bool{false, false}})
	h := at(2, "10h")
	due := h.Add(5 * time.Minute)
	f.scheduledComplete = b.seed(t, row{client: "gamma", status: "completed", created: h, runAt: due,
		submitted: due.Add(sec(1)), finished: due.Add(sec(10)), inference: 5, nsfw: []bool{true}})
	i := at(2, "11h")
	f.lastServerError = i.Add(sec(2))
	b.seed(t, row{client: "gamma", status: "failed", created: i, finished: f.lastServerError,
		errorCode: "fal_server_error", errorMsg: "fal answered 500"})

	// Ten days ago: inside the 30-day recipes only.
	j := at(10, "12h")
	b.seed(t, row{client: "alpha", status: "completed", created: j, submitted: j.Add(sec(1)), finished: j.Add(sec(9)),
		inference: 6, nsfw: []bool{false}})
	k := at(10, "13h")
	b.seed(t, row{client: "alpha", status: "failed", created: k, finished: k.Add(sec(1)), errorCode: "timeout", errorMsg: "no result"})

	// Forty days ago: outside every window.
	l := at(40, "12h")
	b.seed(t, row{client: "alpha", status: "completed", created: l, submitted: l.Add(sec(1)), finished: l.Add(sec(9)),
		inference: 6, nsfw: []bool{true}})

	// Unfinished, relative to now.
	now := time.Now()
	f.stuckQueued = b.seed(t, row{client: "alpha", status: "queued", created: now.Add(-20 * time.Minute)})
	f.queued = b.seed(t, row{client: "alpha", status: "queued", created: now.Add(-time.Minute)})
	b.seed(t, row{client: "alpha", status: "queued", created: now.Add(-30 * time.Minute), runAt: now.Add(time.Hour)})
	f.stuckSubmitted = b.seed(t, row{client: "beta", status: "submitted", created: now.Add(-40 * time.Minute),
		submitted: now.Add(-39 * time.Minute)})
	b.seed(t, row{client: "beta", status: "submitted", created: now.Add(-3 * time.Minute), submitted: now.Add(-2 * time.Minute)})
	return f
}

type stuckRow struct {
	ID     uuid.UUID
	Status string
}

func TestRecipes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.seedFixture(t)
	ts := func(tm time.Time) string { return tm.In(b.zone).Format("2006-01-02T15:04:05-07:00") }

	want := map[string]string{
		"nsfw_rate_per_day": fmt.Sprintf(`[
			{"day": %q, "generations": 3, "nsfw_generations": 1, "nsfw_generation_rate": 0.3333, "images": 7, "nsfw_images": 2, "nsfw_image_rate": 0.2857, "unknown_generations": 0},
			{"day": %q, "generations": 2, "nsfw_generations": 1, "nsfw_generation_rate": 0.5, "images": 3, "nsfw_images": 1, "nsfw_image_rate": 0.3333, "unknown_generations": 0},
			{"day": %q, "generations": 1, "nsfw_generations": 0, "nsfw_generation_rate": 0, "images": 1, "nsfw_images": 0, "nsfw_image_rate": 0, "unknown_generations": 0}
		]`, f.d1, f.d2, f.d10),
		// percentile_cont interpolates: p95 of (12, 20, 30) is 20 + 0.9 × 10.
		"time_to_complete_p50_p95": fmt.Sprintf(`[
			{"day": %q, "completed": 3, "time_to_complete_p50": 20, "time_to_complete_p95": 29, "inference_p50": 10, "inference_p95": 14.95},
			{"day": %q, "completed": 2, "time_to_complete_p50": 25, "time_to_complete_p95": 38.5, "inference_p50": 12.5, "inference_p95": 19.25}
		]`, f.d1, f.d2),
		"failures_by_code": fmt.Sprintf(`[
			{"error_code": "fal_validation", "failures": 2, "share": 0.6667, "last_seen": %q, "latest_message": "prompt: too long"},
			{"error_code": "fal_server_error", "failures": 1, "share": 0.3333, "last_seen": %q, "latest_message": "fal answered 500"}
		]`, ts(f.lastValidation), ts(f.lastServerError)),
		"images_per_client_per_day": fmt.Sprintf(`[
			{"day": %[1]q, "client": "alpha", "generations": 2, "images": 6, "nsfw_images": 2, "nsfw_unknown_generations": 0},
			{"day": %[1]q, "client": "beta", "generations": 1, "images": 1, "nsfw_images": 0, "nsfw_unknown_generations": 0},
			{"day": %[2]q, "client": "alpha", "generations": 1, "images": 2, "nsfw_images": 0, "nsfw_unknown_generations": 0},
			{"day": %[2]q, "client": "gamma", "generations": 1, "images": 1, "nsfw_images": 1, "nsfw_unknown_generations": 0},
			{"day": %[3]q, "client": "alpha", "generations": 1, "images": 1, "nsfw_images": 0, "nsfw_unknown_generations": 0}
		]`, f.d1, f.d2, f.d10),
	}

	recipes := history.Recipes()
	names := make([]string, len(recipes))
	for i, r := range recipes {
		names[i] = r.Name
	}
	require.Equal(t, []string{"nsfw_rate_per_day", "time_to_complete_p50_p95", "failures_by_code",
		"images_per_client_per_day", "stuck_generations"}, names)

	for _, recipe := range recipes {
		t.Run(recipe.Name, func(t *testing.T) {
			t.Parallel()
			if recipe.Name == "stuck_generations" {
				// stuck_for moves with the clock; the rows and their order do not.
				rows, err := b.pool.Query(b.ctx, `SELECT id, status FROM (`+strings.TrimSuffix(recipe.SQL, ";")+`) r`)
				require.NoError(t, err)
				stuck, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stuckRow])
				require.NoError(t, err)
				require.Equal(t, []stuckRow{{f.stuckSubmitted, "submitted"}, {f.stuckQueued, "queued"}}, stuck)
				return
			}
			require.JSONEq(t, want[recipe.Name], b.run(t, recipe))
		})
	}
}

func TestRecipesOnEmptyHistory(t *testing.T) {
	t.Parallel()
	b := setup(t)

	for _, recipe := range history.Recipes() {
		require.JSONEq(t, `[]`, b.run(t, recipe), recipe.Name)
	}
}

func TestGenerationHistoryView(t *testing.T) {
	t.Parallel()
	b := setup(t)
	f := b.seedFixture(t)

	type historyRow struct {
		QueueSeconds          *float64
		TimeToCompleteSeconds *float64
		FalSeconds            *float64
		ImageCount            *int
		NSFWImageCount        *int
		HasNSFW               *bool
		WebhookCount          int
	}
	get := func(id uuid.UUID) historyRow {
		var r historyRow
		require.NoError(t, b.pool.QueryRow(b.ctx, `
			SELECT queue_seconds, time_to_complete_seconds, fal_seconds, image_count, nsfw_image_count, has_nsfw, webhook_count
			FROM generation_history WHERE id = $1`, id).Scan(&r.QueueSeconds, &r.TimeToCompleteSeconds, &r.FalSeconds,
			&r.ImageCount, &r.NSFWImageCount, &r.HasNSFW, &r.WebhookCount))
		return r
	}
	ptr := func(v float64) *float64 { return &v }
	n := func(v int) *int { return &v }
	yes := true

	require.Equal(t, historyRow{QueueSeconds: ptr(1), TimeToCompleteSeconds: ptr(20), FalSeconds: ptr(19),
		ImageCount: n(4), NSFWImageCount: n(2), HasNSFW: &yes, WebhookCount: 2}, get(f.nsfwGeneration))
	// Durations of a scheduled generation start at its run_at.
	require.Equal(t, historyRow{QueueSeconds: ptr(1), TimeToCompleteSeconds: ptr(10), FalSeconds: ptr(9),
		ImageCount: n(1), NSFWImageCount: n(1), HasNSFW: &yes}, get(f.scheduledComplete))
	// An unfinished generation has no durations or counts yet.
	require.Equal(t, historyRow{}, get(f.queued))

	var rows int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM generation_history`).Scan(&rows))
	var generations int
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM generations`).Scan(&generations))
	require.Equal(t, generations, rows, "one row per generation")
}
