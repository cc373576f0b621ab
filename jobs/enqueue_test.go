package jobs_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
	"github.com/easelhq/easel/store"
)

const enqueueTestInput = `{"prompt":"a lighthouse at dusk","image_prompt_1":{"image_url":"https://example.com/ref.png","type":"PyraCanny"}}`

type riverJob struct {
	Kind        string
	State       string
	Priority    int
	Args        json.RawMessage
	ScheduledAt time.Time
	MaxAttempts int
}

// enqueueFunc enqueues a generation in a transaction of its own.
type enqueueFunc func(ctx context.Context, pool *pgxpool.Pool, client string, input any, opts *jobs.EnqueueOpts) (*jobs.Enqueued, error)

// enqueueInTx is Enqueue in a transaction the caller begins and commits.
func enqueueInTx(ctx context.Context, pool *pgxpool.Pool, client string, input any, opts *jobs.EnqueueOpts) (*jobs.Enqueued, error) {
	var enqueued *jobs.Enqueued
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var err error
		enqueued, err = jobs.Enqueue(ctx, tx, client, input, opts)
		return err
	})
	return enqueued, err
}

// Enqueue in a caller's transaction and EnqueuePool in one of its own
// behave alike.
func TestEnqueue(t *testing.T) {
	t.Parallel()
	t.Run("InCallersTx", func(t *testing.T) {
		t.Parallel()
		testEnqueue(t, enqueueInTx)
	})
	t.Run("EnqueuePool", func(t *testing.T) {
		t.Parallel()
		testEnqueue(t, jobs.EnqueuePool)
	})
}

func testEnqueue(t *testing.T, enqueueWith enqueueFunc) {
	// Enqueue needs only a database: no simulator, unlike setup.
	type enqueueBundle struct {
		ctx  context.Context
		pool *pgxpool.Pool
	}
	setupEnqueue := func(t *testing.T) *enqueueBundle {
		t.Helper()
		return &enqueueBundle{ctx: context.Background(), pool: dbtest.Pool(t)}
	}
	enqueue := func(t *testing.T, b *enqueueBundle, client string, input any, opts *jobs.EnqueueOpts) (*jobs.Enqueued, error) {
		t.Helper()
		enqueued, err := enqueueWith(b.ctx, b.pool, client, input, opts)
		// EnqueuePool's wake-up of the workers borrows a connection for a
		// moment after the commit.
		require.Eventually(t, func() bool { return b.pool.Stat().AcquiredConns() == 0 }, 10*time.Second, time.Millisecond,
			"the connection is back in the pool, whatever the outcome")
		return enqueued, err
	}
	jobsOf := func(t *testing.T, b *enqueueBundle) []riverJob {
		t.Helper()
		rows, err := b.pool.Query(b.ctx, `SELECT kind, state, priority, args, scheduled_at, max_attempts FROM river_job ORDER BY id`)
		require.NoError(t, err)
		found, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (riverJob, error) {
			var j riverJob
			return j, row.Scan(&j.Kind, &j.State, &j.Priority, &j.Args, &j.ScheduledAt, &j.MaxAttempts)
		})
		require.NoError(t, err)
		return found
	}
	countGenerations := func(t *testing.T, b *enqueueBundle) int {
		t.Helper()
		var n int
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT count(*) FROM generations`).Scan(&n))
		return n
	}

	t.Run("InsertsRowAndJob", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		before := time.Now()
		enqueued, err := enqueue(t, b, "billing", json.RawMessage(enqueueTestInput), nil)
		require.NoError(t, err)
		require.False(t, enqueued.Replayed)

		gen := enqueued.Generation
		require.Equal(t, store.StatusQueued, gen.Status)
		require.Equal(t, "billing", gen.Client)
		require.Equal(t, fal.EndpointImagePrompt, gen.EndpointID)
		require.Equal(t, 2, gen.Priority, "default priority")
		require.JSONEq(t, `{}`, string(gen.Metadata))
		require.Nil(t, gen.RunAt)
		require.Nil(t, gen.Seed)

		// The stored input is the validated one, defaults applied.
		want, err := fal.ParseImagePromptInput([]byte(enqueueTestInput))
		require.NoError(t, err)
		wantJSON, err := json.Marshal(want)
		require.NoError(t, err)
		require.JSONEq(t, string(wantJSON), string(gen.Input))

		found := jobsOf(t, b)
		require.Len(t, found, 1)
		require.Equal(t, jobs.SubmitGenerationArgs{}.Kind(), found[0].Kind)
		require.Equal(t, "available", found[0].State)
		require.Equal(t, 2, found[0].Priority)
		require.JSONEq(t, `{"generation_id":"`+gen.ID.String()+`"}`, string(found[0].Args))
		require.False(t, found[0].ScheduledAt.After(time.Now()))
		require.False(t, found[0].ScheduledAt.Before(before.Add(-time.Minute)))
		require.Equal(t, 15, found[0].MaxAttempts)
	})

	t.Run("Options", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		runAt := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Microsecond)
		enqueued, err := enqueue(t, b, "billing", json.RawMessage(enqueueTestInput), &jobs.EnqueueOpts{
			Priority:    1,
			Metadata:    json.RawMessage(`{"order_id":"A-1042"}`),
			CallbackURL: "https://example.com/done",
			RunAt:       runAt,
		})
		require.NoError(t, err)

		gen, err := store.GetGeneration(context.Background(), b.pool, enqueued.Generation.ID)
		require.NoError(t, err)
		require.Equal(t, 1, gen.Priority)
		require.JSONEq(t, `{"order_id":"A-1042"}`, string(gen.Metadata))
		require.Equal(t, "https://example.com/done", *gen.CallbackURL)
		require.True(t, runAt.Equal(*gen.RunAt))

		found := jobsOf(t, b)
		require.Len(t, found, 1)
		require.Equal(t, "scheduled", found[0].State)
		require.Equal(t, 1, found[0].Priority)
		require.True(t, runAt.Equal(found[0].ScheduledAt), "job scheduled at %s, want %s", found[0].ScheduledAt, runAt)
	})

	t.Run("InputForms", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		parsed, err := fal.ParseImagePromptInput([]byte(enqueueTestInput))
		require.NoError(t, err)
		var asMap map[string]any
		require.NoError(t, json.Unmarshal([]byte(enqueueTestInput), &asMap))

		var fields map[string]json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(enqueueTestInput), &fields))
		validated, err := jobs.ParseInput(enqueueTestInput)
		require.NoError(t, err)
		validatedFields, err := jobs.ParseInput(fields)
		require.NoError(t, err)

		var inputs []json.RawMessage
		for _, input := range []any{enqueueTestInput, []byte(enqueueTestInput), json.RawMessage(enqueueTestInput), parsed, asMap, fields, validated, validatedFields} {
			enqueued, err := enqueue(t, b, "billing", input, nil)
			require.NoError(t, err, "%T", input)
			inputs = append(inputs, enqueued.Generation.Input)
		}
		for _, input := range inputs[1:] {
			require.JSONEq(t, string(inputs[0]), string(input))
		}
	})

	t.Run("InvalidWritesNothing", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		tests := []struct {
			name       string
			client     string
			input      any
			opts       *jobs.EnqueueOpts
			wantFields []string
		}{
			{name: "missing image prompt", client: "billing", input: `{"prompt":"x"}`, wantFields: []string{"image_prompt_1"}},
			{name: "bad field", client: "billing", input: `{"num_images":9,"image_prompt_1":{"image_url":"https://example.com/a.png","weight":3}}`,
				wantFields: []string{"num_images", "image_prompt_1.weight"}},
			{name: "not JSON", client: "billing", input: `{"prompt":`, wantFields: []string{"prompt"}},
			{name: "client with NUL", client: "bill\x00ing", input: enqueueTestInput, wantFields: []string{"client"}},
			{name: "client not UTF-8", client: "bill\xffing", input: enqueueTestInput, wantFields: []string{"client"}},
			{name: "priority", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Priority: 5}, wantFields: []string{"priority"}},
			{name: "metadata not an object", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`[1]`)}, wantFields: []string{"metadata"}},
			{name: "metadata too large", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"` + strings.Repeat("x", jobs.MaxMetadataBytes) + `"}`)}, wantFields: []string{"metadata"}},
			{name: "metadata not UTF-8", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage("{\"k\":\"\xff\"}")}, wantFields: []string{"metadata"}},
			{name: "metadata with NUL", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"a\u0000"}`)}, wantFields: []string{"metadata"}},
			{name: "NUL in prompt", client: "billing", input: `{"prompt":"a\u0000b","image_prompt_1":{"image_url":"https://example.com/a.png"}}`, wantFields: []string{"input"}},
			{name: "bad priority and metadata together", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Priority: -1, Metadata: json.RawMessage(`"x"`)}, wantFields: []string{"priority", "metadata"}},
			// Postgres's jsonb refuses what encoding/json reads as U+FFFD.
			{name: "metadata lone high surrogate in a key", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"\ud800":1}`)}, wantFields: []string{"metadata"}},
			{name: "metadata lone high surrogate in a value", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ud800"}`)}, wantFields: []string{"metadata"}},
			{name: "metadata lone low surrogate", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\udc00"}`)}, wantFields: []string{"metadata"}},
			{name: "metadata high surrogate before a non-surrogate", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\uD83D\u0041"}`)}, wantFields: []string{"metadata"}},
			{name: "metadata surrogates in the wrong order", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ude00\ud83d"}`)}, wantFields: []string{"metadata"}},
			// What the HTTP API refuses, Enqueue refuses too.
			{name: "callback_url not http", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "ftp://example.com/done"}, wantFields: []string{"callback_url"}},
			{name: "callback_url relative", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "/done"}, wantFields: []string{"callback_url"}},
			{name: "callback_url with user info", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://user:pass@example.com/done"}, wantFields: []string{"callback_url"}},
			{name: "callback_url with fragment", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com/done#x"}, wantFields: []string{"callback_url"}},
			{name: "callback_url port 0", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com:0/done"}, wantFields: []string{"callback_url"}},
			{name: "callback_url port too large", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com:65536/done"}, wantFields: []string{"callback_url"}},
			{name: "callback_url too long", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com/" + strings.Repeat("a", 2048)}, wantFields: []string{"callback_url"}},
			// Postgres text refuses it (SQLSTATE 22021).
			{name: "callback_url not UTF-8", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com/\xff"}, wantFields: []string{"callback_url"}},
			{name: "idempotency key too long", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{IdempotencyKey: strings.Repeat("k", jobs.MaxIdempotencyKeyLen+1)}, wantFields: []string{"Idempotency-Key"}},
			{name: "idempotency key not ASCII", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{IdempotencyKey: "clé"}, wantFields: []string{"Idempotency-Key"}},
			{name: "idempotency key with a control character", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{IdempotencyKey: "a\nb"}, wantFields: []string{"Idempotency-Key"}},
			{name: "run_at in year 9999", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{RunAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, wantFields: []string{"run_at"}},
			{name: "run_at a day past the horizon", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{RunAt: time.Now().Add(jobs.MaxRunAtAhead + 24*time.Hour)}, wantFields: []string{"run_at"}},
			{name: "every option at once", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Priority: 9, Metadata: json.RawMessage(`{"k":"\udfff"}`), CallbackURL: "x", IdempotencyKey: "\x00",
					RunAt: time.Now().Add(2 * jobs.MaxRunAtAhead)},
				wantFields: []string{"priority", "metadata", "callback_url", "run_at", "Idempotency-Key"}},
			{name: "no client", input: enqueueTestInput},
			// Only ParseInput vouches for an *Input; a NUL it let through
			// is still refused.
			{name: "Input not from ParseInput", client: "billing", input: &jobs.Input{}, wantFields: []string{""}},
			{name: "nil Input", client: "billing", input: (*jobs.Input)(nil), wantFields: []string{""}},
			{name: "parsed input with NUL", client: "billing", input: mustParseInput(t, `{"prompt":"a\u0000b","image_prompt_1":{"image_url":"https://example.com/a.png"}}`), wantFields: []string{"input"}},
			// Postgres refuses it in the insert, after the BEGIN: the
			// transaction is rolled back.
			{name: "NUL in client", client: "bill\x00ing", input: enqueueTestInput},
		}
		for _, tt := range tests {
			_, err := enqueue(t, b, tt.client, tt.input, tt.opts)
			require.Error(t, err, tt.name)
			if tt.wantFields != nil {
				var invalid *fal.ValidationError
				require.ErrorAs(t, err, &invalid, tt.name)
				var fields []string
				for _, f := range invalid.Fields {
					fields = append(fields, f.Field)
				}
				require.Equal(t, tt.wantFields, fields, tt.name)
			}
		}
		require.Zero(t, countGenerations(t, b))
		require.Empty(t, jobsOf(t, b))
	})

	// What jsonb and the limits do take is accepted.
	t.Run("EdgesAccepted", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		enqueued, err := enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{
			// A surrogate pair is one character, U+1F600; an escaped
			// backslash before u0000 is the six characters \u0000.
			Metadata:       json.RawMessage(`{"\ud83d\ude00":"\uD83D\uDE00","literal":"\\u0000\\ud800"}`),
			CallbackURL:    "https://example.com:8443/done?token=a",
			IdempotencyKey: strings.Repeat("~", jobs.MaxIdempotencyKeyLen),
			RunAt:          time.Now().Add(jobs.MaxRunAtAhead - time.Hour),
		})
		require.NoError(t, err)
		require.JSONEq(t, `{"😀":"😀","literal":"\\u0000\\ud800"}`, string(enqueued.Generation.Metadata))

		// A time in the past means now: the job is available at once.
		before := time.Now()
		enqueued, err = enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{RunAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)})
		require.NoError(t, err)
		var state string
		var scheduledAt time.Time
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT state, scheduled_at FROM river_job WHERE args->>'generation_id' = $1`,
			enqueued.Generation.ID.String()).Scan(&state, &scheduledAt))
		require.Equal(t, "available", state)
		require.False(t, scheduledAt.After(time.Now()), "scheduled at %s", scheduledAt)
		require.False(t, scheduledAt.Before(before.Add(-time.Minute)), "scheduled at %s, not at run_at", scheduledAt)

		// encoding/json reads a lone surrogate in the input as U+FFFD, and
		// the input is stored as Easel encodes it, so jsonb takes it.
		enqueued, err = enqueue(t, b, "billing", `{"prompt":"a\ud800b\udc00","image_prompt_1":{"image_url":"https://example.com/a.png"}}`, nil)
		require.NoError(t, err)
		var prompt string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT input->>'prompt' FROM generations WHERE id = $1`, enqueued.Generation.ID).Scan(&prompt))
		require.Equal(t, "a\uFFFDb\uFFFD", prompt)
		// So is a backslash before u0000 in the input, which is no NUL.
		enqueued, err = enqueue(t, b, "billing", `{"prompt":"\\u0000","image_prompt_1":{"image_url":"https://example.com/a.png"}}`, nil)
		require.NoError(t, err)
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT input->>'prompt' FROM generations WHERE id = $1`, enqueued.Generation.ID).Scan(&prompt))
		require.Equal(t, `\u0000`, prompt)
	})

	t.Run("Idempotency", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		opts := &jobs.EnqueueOpts{IdempotencyKey: "order-1042", Metadata: json.RawMessage(`{"a":1,"b":2}`)}
		first, err := enqueue(t, b, "billing", enqueueTestInput, opts)
		require.NoError(t, err)
		require.False(t, first.Replayed)

		// The same request, spelled differently: defaults explicit, metadata
		// keys reordered.
		same, err := enqueue(t, b, "billing",
			`{"image_prompt_1":{"type":"PyraCanny","image_url":"https://example.com/ref.png","weight":1},"prompt":"a lighthouse at dusk","num_images":1}`,
			&jobs.EnqueueOpts{IdempotencyKey: "order-1042", Priority: 2, Metadata: json.RawMessage(`{"b":2,"a":1}`)})
		require.NoError(t, err)
		require.True(t, same.Replayed)
		require.Equal(t, first.Generation.ID, same.Generation.ID)

		_, err = enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{IdempotencyKey: "order-1042", Priority: 1})
		require.ErrorIs(t, err, jobs.ErrIdempotencyConflict)

		other, err := enqueue(t, b, "shipping", enqueueTestInput, opts)
		require.NoError(t, err, "keys are scoped per client")
		require.False(t, other.Replayed)
		require.NotEqual(t, first.Generation.ID, other.Generation.ID)

		require.Equal(t, 2, countGenerations(t, b))
		require.Len(t, jobsOf(t, b), 2)
	})

	t.Run("MaxPending", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		capped := func(key string) *jobs.EnqueueOpts {
			return &jobs.EnqueueOpts{MaxPending: 2, IdempotencyKey: key}
		}
		first, err := enqueue(t, b, "billing", enqueueTestInput, capped("a"))
		require.NoError(t, err)
		_, err = enqueue(t, b, "billing", enqueueTestInput, capped(""))
		require.NoError(t, err)

		_, err = enqueue(t, b, "billing", enqueueTestInput, capped(""))
		require.ErrorIs(t, err, jobs.ErrTooManyPending)
		require.ErrorContains(t, err, "client billing: 2 unfinished generations")
		_, err = enqueue(t, b, "billing", enqueueTestInput, capped("new key"))
		require.ErrorIs(t, err, jobs.ErrTooManyPending, "a new idempotency key is new work")

		replayed, err := enqueue(t, b, "billing", enqueueTestInput, capped("a"))
		require.NoError(t, err, "a replay is answered at the cap")
		require.True(t, replayed.Replayed)
		require.Equal(t, first.Generation.ID, replayed.Generation.ID)
		_, err = enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{MaxPending: 2, IdempotencyKey: "a", Priority: 1})
		require.ErrorIs(t, err, jobs.ErrIdempotencyConflict, "so is a conflict")

		_, err = enqueue(t, b, "shipping", enqueueTestInput, capped(""))
		require.NoError(t, err, "the cap is per client")
		_, err = enqueue(t, b, "billing", enqueueTestInput, nil)
		require.NoError(t, err, "no cap unless asked for")

		// A finished generation frees its place.
		_, err = store.Fail(b.ctx, b.pool, first.Generation.ID, "x", "y")
		require.NoError(t, err)
		_, err = enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{MaxPending: 3})
		require.NoError(t, err)
		_, err = enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{MaxPending: 3})
		require.ErrorIs(t, err, jobs.ErrTooManyPending)

		require.Equal(t, 5, countGenerations(t, b))
		require.Len(t, jobsOf(t, b), 5, "a refused enqueue inserts no job")
	})

	t.Run("RollbackLeavesNothing", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		tx, err := b.pool.Begin(b.ctx)
		require.NoError(t, err)
		enqueued, err := jobs.Enqueue(b.ctx, tx, "billing", enqueueTestInput, nil)
		require.NoError(t, err)
		require.NoError(t, tx.Rollback(b.ctx))

		_, err = store.GetGeneration(b.ctx, b.pool, enqueued.Generation.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.Empty(t, jobsOf(t, b))
		require.NotEqual(t, uuid.Nil, enqueued.Generation.ID)
	})
}

func mustParseInput(t *testing.T, input string) *jobs.Input {
	t.Helper()
	parsed, err := jobs.ParseInput(input)
	require.NoError(t, err)
	return parsed
}

// roundTripCounter counts what a connection sends to the server and waits
// for: each statement sent alone, each batch, each statement prepared. It
// leaves out River's notification of new jobs, with the version query River
// makes before its first: an insert adds it at most once per FetchCooldown
// and queue, and EnqueuePool sends it after the commit, from a goroutine of
// its own.
type roundTripCounter struct{ n atomic.Int64 }

// riverNotify tells River's notification and version queries.
func riverNotify(sql string) bool {
	return strings.HasPrefix(sql, "-- name: PGNotifyMany ") || strings.HasPrefix(sql, "-- name: PGGetProductAndVersion ")
}

func (c *roundTripCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	if !riverNotify(data.SQL) {
		c.n.Add(1)
	}
	return ctx
}
func (*roundTripCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (c *roundTripCounter) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.n.Add(1)
	return ctx
}
func (*roundTripCounter) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (*roundTripCounter) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}
func (c *roundTripCounter) TracePrepareStart(ctx context.Context, _ *pgx.Conn, data pgx.TracePrepareStartData) context.Context {
	if !riverNotify(data.SQL) {
		c.n.Add(1)
	}
	return ctx
}
func (*roundTripCounter) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

// EnqueuePool sends its BEGIN with its first statement: a new generation
// costs three round trips, one fewer than a transaction begun first.
func TestEnqueuePoolRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.URL(t))
	require.NoError(t, err)
	counter := &roundTripCounter{}
	cfg.ConnConfig.Tracer = counter
	cfg.MaxConns = 1 // one connection, whose statements the first enqueue prepares
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	roundTrips := func(enqueue enqueueFunc, opts *jobs.EnqueueOpts) int64 {
		t.Helper()
		before := counter.n.Load()
		_, err := enqueue(ctx, pool, "billing", enqueueTestInput, opts)
		require.NoError(t, err)
		return counter.n.Load() - before
	}
	keyed := &jobs.EnqueueOpts{IdempotencyKey: "order-1042"}
	capped := &jobs.EnqueueOpts{MaxPending: 100}
	for _, opts := range []*jobs.EnqueueOpts{nil, keyed, keyed, capped} {
		roundTrips(enqueueInTx, opts) // prepares the statements, the replay's too
	}

	require.EqualValues(t, 4, roundTrips(enqueueInTx, nil), "begin, insert, job, commit")
	require.EqualValues(t, 3, roundTrips(jobs.EnqueuePool, nil), "begin with the insert, job, commit")
	require.EqualValues(t, 3, roundTrips(jobs.EnqueuePool, keyed), "a replay: begin with the insert, the generation, commit")
	require.EqualValues(t, 4, roundTrips(jobs.EnqueuePool, capped), "begin with the pending count, insert, job, commit")
}

// TestEnqueueOptsValidate checks the messages Validate gives, which the
// HTTP API shows as they are.
func TestEnqueueOptsValidate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		opts jobs.EnqueueOpts
		want []fal.FieldError // nil: valid
	}{
		{name: "zero", opts: jobs.EnqueueOpts{}},
		{name: "surrogate pair", opts: jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ud83d\ude00"}`)}},
		{name: "lone surrogate", opts: jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ud800"}`)},
			want: []fal.FieldError{{Field: "metadata", Message: `must not contain an unpaired UTF-16 surrogate escape such as \ud800`}}},
		{name: "high surrogate at the end of a key", opts: jobs.EnqueueOpts{Metadata: json.RawMessage(`{"\ud800":1}`)},
			want: []fal.FieldError{{Field: "metadata", Message: `must not contain an unpaired UTF-16 surrogate escape such as \ud800`}}},
		{name: "NUL", opts: jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\u0000"}`)},
			want: []fal.FieldError{{Field: "metadata", Message: `must not contain the NUL character (\u0000)`}}},
		{name: "callback user info", opts: jobs.EnqueueOpts{CallbackURL: "http://a:b@example.com/"},
			want: []fal.FieldError{{Field: "callback_url", Message: "must not contain a user name or password"}}},
		{name: "callback fragment", opts: jobs.EnqueueOpts{CallbackURL: "http://example.com/#f"},
			want: []fal.FieldError{{Field: "callback_url", Message: "must not contain a fragment"}}},
		{name: "run_at", opts: jobs.EnqueueOpts{RunAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
			want: []fal.FieldError{{Field: "run_at", Message: "must be at most 365 days from now; a time in the past means now"}}},
		{name: "idempotency key", opts: jobs.EnqueueOpts{IdempotencyKey: "é"},
			want: []fal.FieldError{{Field: "Idempotency-Key", Message: "must be at most 255 printable ASCII characters"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.opts.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			var invalid *fal.ValidationError
			require.ErrorAs(t, err, &invalid)
			require.Equal(t, tt.want, invalid.Fields)
		})
	}
}
