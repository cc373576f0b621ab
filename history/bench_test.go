package history_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/history"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/store"
)

// Shape of the benchmark's history: a year of generations, oldest first as
// they are appended in production, from clients of very different sizes.
const (
	benchGenerations = 1_000_000
	benchDays        = 365
	benchClients     = 20
	benchUnfinished  = 300 // queued or submitted in the last minutes
	benchStuck       = 40  // queued or submitted for hours
)

// BenchmarkHistoryQueries seeds benchGenerations generations (and their
// images) by COPY into its own database, prints the EXPLAIN ANALYZE plan of
// every README recipe and of the list endpoint's query shapes, then times
// them. It takes a minute or two to seed; findings are in docs/BENCHMARKS.md.
//
//	go test -run '^$' -bench BenchmarkHistoryQueries -benchtime 20x ./history
func BenchmarkHistoryQueries(b *testing.B) {
	ctx := context.Background()
	pool := dbtest.Pool(b)
	start := time.Now()
	seedHistory(b, ctx, pool)
	b.Logf("seeded %d generations in %s", benchGenerations, time.Since(start).Round(time.Second))

	for _, recipe := range history.Recipes() {
		b.Run("recipe/"+recipe.Name, func(b *testing.B) {
			printPlan(b, explain(b, ctx, pool, recipe.SQL))
			for b.Loop() {
				rows, err := pool.Query(ctx, recipe.SQL)
				require.NoError(b, err)
				for rows.Next() {
				}
				require.NoError(b, rows.Err())
			}
		})
	}

	yes := true
	var middle store.GenerationCursor
	require.NoError(b, pool.QueryRow(ctx, `SELECT created_at, id FROM generations ORDER BY created_at, id OFFSET $1 LIMIT 1`,
		benchGenerations/2).Scan(&middle.CreatedAt, &middle.ID))
	listCases := []struct {
		name   string
		params store.ListGenerationsParams
	}{
		{"newest", store.ListGenerationsParams{}},
		{"deep_page", store.ListGenerationsParams{After: &middle}},
		{"client_large", store.ListGenerationsParams{Client: benchClient(0)}},
		{"client_small", store.ListGenerationsParams{Client: benchClient(benchClients - 1)}},
		{"client_small_deep_page", store.ListGenerationsParams{Client: benchClient(benchClients - 1), After: &middle}},
		{"status_completed", store.ListGenerationsParams{Statuses: []store.Status{store.StatusCompleted}}},
		{"status_failed", store.ListGenerationsParams{Statuses: []store.Status{store.StatusFailed}}},
		{"status_cancelled", store.ListGenerationsParams{Statuses: []store.Status{store.StatusCancelled}}},
		{"status_unfinished", store.ListGenerationsParams{Statuses: []store.Status{store.StatusQueued, store.StatusSubmitted}}},
		{"has_nsfw", store.ListGenerationsParams{HasNSFW: &yes}},
		{"client_small_failed", store.ListGenerationsParams{Client: benchClient(benchClients - 1),
			Statuses: []store.Status{store.StatusFailed}}},
		{"since_until_day", store.ListGenerationsParams{Since: middle.CreatedAt.Add(-24 * time.Hour), Until: middle.CreatedAt}},
	}
	for _, tc := range listCases {
		tc.params.Limit = 50
		b.Run("list/"+tc.name, func(b *testing.B) {
			capture := &captureDB{DBTX: pool}
			_, _, err := store.ListGenerations(ctx, capture, tc.params)
			require.NoError(b, err)
			printPlan(b, explain(b, ctx, pool, capture.sql, capture.args...))
			for b.Loop() {
				_, _, err := store.ListGenerations(ctx, pool, tc.params)
				require.NoError(b, err)
			}
		})
	}
}

// captureDB records the last query it was asked to run.
type captureDB struct {
	store.DBTX
	sql  string
	args []any
}

func (c *captureDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c.sql, c.args = sql, args
	return c.DBTX.Query(ctx, sql, args...)
}

func explain(b *testing.B, ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) string {
	b.Helper()
	rows, err := pool.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	require.NoError(b, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(b, err)
	return strings.Join(lines, "\n")
}

// printPlan writes to stdout: testing keeps only the first lines of a
// benchmark's log.
func printPlan(b *testing.B, plan string) {
	fmt.Printf("--- %s\n%s\n\n", b.Name(), plan)
}

func ptr[T any](v T) *T { return &v }

func benchClient(i int) string { return fmt.Sprintf("service-%02d", i) }

// benchRow is one seeded generation; values lists it in benchColumns order.
type benchRow struct {
	id                         uuid.UUID
	client, status, input      string
	created                    time.Time
	submitted, finished        *time.Time
	errorCode, errorMessage    *string
	hasNSFW                    *bool
	imageCount, nsfwImageCount *int
	inferenceSeconds           *float64
	falRequestID               *string
}

var benchColumns = []string{"id", "client", "status", "endpoint_id", "input", "created_at", "updated_at",
	"submitted_at", "completed_at", "finished_at", "attempts", "fal_submissions", "error_code", "error_message",
	"has_nsfw", "image_count", "nsfw_image_count", "inference_seconds", "fal_request_id"}

func (r benchRow) values() []any {
	var completed *time.Time
	if r.status == "completed" {
		completed = r.finished
	}
	submissions := 0
	if r.submitted != nil {
		submissions = 1
	}
	return []any{r.id, r.client, r.status, "fal-ai/fooocus/image-prompt", r.input, r.created, r.created,
		r.submitted, completed, r.finished, 1, submissions, r.errorCode, r.errorMessage,
		r.hasNSFW, r.imageCount, r.nsfwImageCount, r.inferenceSeconds, r.falRequestID}
}

var benchErrors = []struct{ code, message string }{
	{"fal_validation", "image_prompt_1.image_url: could not download image"},
	{"fal_server_error", "fal answered 500"},
	{"fal_timeout", "no result from fal within 1h"},
	{"invalid_output", "webhook payload: images missing"},
	{"fal_rate_limited", "fal answered 429 on every attempt"},
}

// seedHistory COPYs the generations and their images, then VACUUM ANALYZEs
// as autovacuum eventually would, so plans and visibility maps are those of
// a settled production table.
func seedHistory(b testing.TB, ctx context.Context, pool *pgxpool.Pool) {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now().UTC()
	first := now.AddDate(0, 0, -benchDays)
	step := now.Sub(first) / benchGenerations

	// Client i gets a share proportional to 1/(i+1)^1.5: the largest client
	// makes about 46% of the generations, the smallest about 0.5%.
	weights := make([]float64, benchClients)
	var total float64
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), 1.5)
		total += weights[i]
	}
	pickClient := func() string {
		r := rng.Float64() * total
		for i, w := range weights {
			if r -= w; r < 0 {
				return benchClient(i)
			}
		}
		return benchClient(0)
	}

	type image struct {
		generation uuid.UUID
		position   int
		nsfw       bool
	}
	var images []image
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == benchGenerations {
			return nil, nil
		}
		r := benchRow{id: uuid.New(), client: pickClient(), status: "queued", created: first.Add(time.Duration(i) * step)}
		r.input = fmt.Sprintf(`{"prompt": "a watercolor fox number %d in a snowy forest, soft light", "num_images": 2, `+
			`"image_prompt_1": {"type": "ImagePrompt", "weight": 1, "stop_at": 0.5, `+
			`"image_url": "https://cdn.example.com/uploads/%s/reference.png"}}`, i, r.id)
		recent := i >= benchGenerations-benchUnfinished
		if recent {
			r.created = now.Add(-time.Duration(benchGenerations-i) * 2 * time.Second) // the last 10 minutes
		}
		i++
		if (recent || i%(benchGenerations/benchStuck) == 0) && rng.IntN(2) == 0 {
			return r.values(), nil // queued
		}
		submitted := r.created.Add(time.Duration(50+rng.IntN(3000)) * time.Millisecond)
		r.status, r.submitted, r.falRequestID = "submitted", &submitted, ptr(r.id.String())
		if recent || i%(benchGenerations/benchStuck) == 0 {
			return r.values(), nil
		}

		switch p := rng.IntN(1000); {
		case p < 50:
			e := benchErrors[rng.IntN(len(benchErrors))]
			r.status, r.finished = "failed", ptr(submitted.Add(time.Duration(rng.IntN(20))*time.Second))
			r.errorCode, r.errorMessage = &e.code, &e.message
		case p < 70:
			r.status, r.finished = "cancelled", ptr(submitted.Add(time.Second))
			r.errorCode, r.errorMessage = ptr("cancelled"), ptr("cancelled by client")
		default:
			inference := 2 + rng.Float64()*10
			r.status, r.inferenceSeconds = "completed", &inference
			r.finished = ptr(submitted.Add(time.Duration((inference + 0.5 + rng.Float64()*5) * float64(time.Second))))
			n, nsfw, flagged := 1+rng.IntN(4), 0, rng.IntN(100) < 4
			for pos := range n {
				im := image{r.id, pos, flagged && (pos == 0 || rng.IntN(2) == 0)}
				if im.nsfw {
					nsfw++
				}
				images = append(images, im)
			}
			r.imageCount, r.nsfwImageCount, r.hasNSFW = &n, &nsfw, ptr(nsfw > 0)
		}
		return r.values(), nil
	})
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"generations"}, benchColumns, src)
	require.NoError(b, err)

	j := 0
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"generation_images"},
		[]string{"generation_id", "position", "url", "content_type", "width", "height", "file_size", "nsfw"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if j == len(images) {
				return nil, nil
			}
			im := images[j]
			j++
			return []any{im.generation, im.position, fmt.Sprintf("https://v3.fal.media/files/%s/%d.png", im.generation, im.position),
				"image/png", 1024, 1024, 1_500_000, im.nsfw}, nil
		}))
	require.NoError(b, err)

	for _, sql := range []string{"VACUUM ANALYZE generations", "VACUUM ANALYZE generation_images"} {
		_, err := pool.Exec(ctx, sql)
		require.NoError(b, err, sql)
	}
}
