package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
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
			{name: "no client", input: enqueueTestInput, wantFields: []string{"client"}},
			// Postgres would refuse it in a btree index row past about 2.7
			// KB, failing the insert: see ClientTooLongKeepsTx.
			{name: "client too long", client: strings.Repeat("c", jobs.MaxClientBytes+1), input: enqueueTestInput, wantFields: []string{"client"}},
			{name: "client and options together", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Priority: 9}, wantFields: []string{"client", "Priority"}},
			{name: "priority", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Priority: 5}, wantFields: []string{"Priority"}},
			{name: "metadata not an object", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`[1]`)}, wantFields: []string{"Metadata"}},
			{name: "metadata not JSON", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":`)}, wantFields: []string{"Metadata"}},
			{name: "metadata too large", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"` + strings.Repeat("x", jobs.MaxMetadataBytes) + `"}`)}, wantFields: []string{"Metadata"}},
			{name: "metadata not UTF-8", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage("{\"k\":\"\xff\"}")}, wantFields: []string{"Metadata.k"}},
			{name: "metadata with NUL", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"a\u0000"}`)}, wantFields: []string{"Metadata.k"}},
			{name: "metadata duplicate key", client: "billing", input: enqueueTestInput, opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":1,"a":2}`)}, wantFields: []string{"Metadata.a"}},
			{name: "metadata number out of float64 range", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":[1e400]}`)}, wantFields: []string{"Metadata.a[0]"}},
			// Postgres refuses both (SQLSTATE 22003): more than 16383
			// digits after the point, an exponent beyond about 1.07e9.
			{name: "metadata number with too many decimal places", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":0e-99999}`)}, wantFields: []string{"Metadata.a"}},
			{name: "metadata number with a huge exponent", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":0e99999999999}`)}, wantFields: []string{"Metadata.a"}},
			{name: "metadata every problem at once", client: "billing", input: enqueueTestInput,
				opts:       &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":{"b":"\ud800","c":"\u0000"},"d":[1,-1e999],"a":{},"\u0000":1}`)},
				wantFields: []string{"Metadata.a.b", "Metadata.a.c", "Metadata.d[1]", "Metadata.a", "Metadata.\x00"}},
			{name: "NUL in prompt", client: "billing", input: `{"prompt":"a\u0000b","image_prompt_1":{"image_url":"https://example.com/a.png"}}`, wantFields: []string{"prompt"}},
			// encoding/json would read it as U+FFFD: what is stored and sent
			// would not be what the caller wrote.
			{name: "lone surrogates in prompt", client: "billing", input: `{"prompt":"a\ud800b\udc00","image_prompt_1":{"image_url":"https://example.com/a.png"}}`, wantFields: []string{"prompt"}},
			{name: "input one byte too large", client: "billing", input: paddedInput(jobs.MaxInputBytes + 1), wantFields: []string{"input"}},
			{name: "input too large, as bytes", client: "billing", input: []byte(paddedInput(jobs.MaxInputBytes + 1)), wantFields: []string{"input"}},
			{name: "input too large, as a value", client: "billing", input: map[string]any{"prompt": strings.Repeat("a", jobs.MaxInputBytes)}, wantFields: []string{"input"}},
			{name: "input too large, as fields", client: "billing",
				input: map[string]json.RawMessage{"prompt": json.RawMessage(`"` + strings.Repeat("a", jobs.MaxInputBytes) + `"`)}, wantFields: []string{"input"}},
			{name: "bad priority and metadata together", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Priority: -1, Metadata: json.RawMessage(`"x"`)}, wantFields: []string{"Priority", "Metadata"}},
			// Postgres's jsonb refuses what encoding/json reads as U+FFFD.
			{name: "metadata lone high surrogate in a key", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"\ud800":1}`)}, wantFields: []string{"Metadata.\uFFFD"}},
			{name: "metadata lone high surrogate in a value", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ud800"}`)}, wantFields: []string{"Metadata.k"}},
			{name: "metadata lone low surrogate", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\udc00"}`)}, wantFields: []string{"Metadata.k"}},
			{name: "metadata high surrogate before a non-surrogate", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\uD83D\u0041"}`)}, wantFields: []string{"Metadata.k"}},
			{name: "metadata surrogates in the wrong order", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ude00\ud83d"}`)}, wantFields: []string{"Metadata.k"}},
			// What the HTTP API refuses, Enqueue refuses too.
			{name: "callback_url not http", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "ftp://example.com/done"}, wantFields: []string{"CallbackURL"}},
			{name: "callback_url relative", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "/done"}, wantFields: []string{"CallbackURL"}},
			{name: "callback_url with user info", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://user:pass@example.com/done"}, wantFields: []string{"CallbackURL"}},
			{name: "callback_url with fragment", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com/done#x"}, wantFields: []string{"CallbackURL"}},
			{name: "callback_url port 0", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com:0/done"}, wantFields: []string{"CallbackURL"}},
			{name: "callback_url port too large", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com:65536/done"}, wantFields: []string{"CallbackURL"}},
			{name: "callback_url too long", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com/" + strings.Repeat("a", 2048)}, wantFields: []string{"CallbackURL"}},
			// Postgres text refuses it (SQLSTATE 22021).
			{name: "callback_url not UTF-8", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{CallbackURL: "https://example.com/\xff"}, wantFields: []string{"CallbackURL"}},
			{name: "idempotency key too long", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{IdempotencyKey: strings.Repeat("k", jobs.MaxIdempotencyKeyLen+1)}, wantFields: []string{"IdempotencyKey"}},
			{name: "idempotency key not ASCII", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{IdempotencyKey: "clé"}, wantFields: []string{"IdempotencyKey"}},
			{name: "idempotency key with a control character", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{IdempotencyKey: "a\nb"}, wantFields: []string{"IdempotencyKey"}},
			{name: "run_at in year 9999", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{RunAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)}, wantFields: []string{"RunAt"}},
			{name: "run_at a day past the horizon", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{RunAt: time.Now().Add(jobs.MaxRunAtAhead + 24*time.Hour)}, wantFields: []string{"RunAt"}},
			{name: "every option at once", client: "billing", input: enqueueTestInput,
				opts: &jobs.EnqueueOpts{Priority: 9, Metadata: json.RawMessage(`{"k":"\udfff"}`), CallbackURL: "x", IdempotencyKey: "\x00",
					RunAt: time.Now().Add(2 * jobs.MaxRunAtAhead)},
				wantFields: []string{"Priority", "Metadata.k", "CallbackURL", "RunAt", "IdempotencyKey"}},
			// Only ParseInput vouches for an *Input; a NUL it let through
			// is still refused.
			{name: "Input not from ParseInput", client: "billing", input: &jobs.Input{}, wantFields: []string{""}},
			{name: "nil Input", client: "billing", input: (*jobs.Input)(nil), wantFields: []string{""}},
			{name: "parsed input with NUL", client: "billing", input: mustParseInput(t, `{"prompt":"a\u0000b","image_prompt_1":{"image_url":"https://example.com/a.png"}}`), wantFields: []string{"prompt"}},
		}
		for _, tt := range tests {
			_, err := enqueue(t, b, tt.client, tt.input, tt.opts)
			var invalid *fal.ValidationError
			require.ErrorAs(t, err, &invalid, tt.name)
			var fields []string
			for _, f := range invalid.Fields {
				require.NotEmpty(t, f.Message, tt.name)
				fields = append(fields, f.Field)
			}
			require.Equal(t, tt.wantFields, fields, tt.name)
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

		// A backslash before u0000 in the input is no NUL.
		enqueued, err = enqueue(t, b, "billing", `{"prompt":"\\u0000","image_prompt_1":{"image_url":"https://example.com/a.png"}}`, nil)
		require.NoError(t, err)
		var prompt string
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT input->>'prompt' FROM generations WHERE id = $1`, enqueued.Generation.ID).Scan(&prompt))
		require.Equal(t, `\u0000`, prompt)
		// Nor is a surrogate pair a lone surrogate.
		enqueued, err = enqueue(t, b, "billing", `{"prompt":"\ud83d\ude00","image_prompt_1":{"image_url":"https://example.com/a.png"}}`, nil)
		require.NoError(t, err)
		require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT input->>'prompt' FROM generations WHERE id = $1`, enqueued.Generation.ID).Scan(&prompt))
		require.Equal(t, "😀", prompt)

		// An input of MaxInputBytes, whitespace and all, and the longest
		// client name.
		_, err = enqueue(t, b, strings.Repeat("c", jobs.MaxClientBytes), paddedInput(jobs.MaxInputBytes), nil)
		require.NoError(t, err)
	})

	// Metadata is measured as stored, and stored as the value it is.
	t.Run("MetadataAccepted", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		fill := func(n int, s string) string { return strings.Repeat(s, n) }
		tests := []struct {
			name     string
			metadata string
			want     string // what jsonb returns; "" is no metadata
		}{
			// json.Marshal of a nil map, as "metadata": null over HTTP.
			{name: "null", metadata: `null`},
			{name: "null with whitespace", metadata: " null\n"},
			{name: "empty", metadata: ``},
			{name: "whitespace is not stored", metadata: `{"a":` + fill(20000, " ") + `1}`, want: `{"a": 1}`},
			// Python's json.dumps escapes every non-ASCII character.
			{name: "escapes count as UTF-8", metadata: `{"k":"` + fill(8188, `\u00e9`) + `"}`, want: `{"k": "` + fill(8188, "é") + `"}`},
			// {"k":""} is 8 bytes.
			{name: "exactly the limit", metadata: `{"k":"` + fill(jobs.MaxMetadataBytes-8, "x") + `"}`, want: `{"k": "` + fill(jobs.MaxMetadataBytes-8, "x") + `"}`},
			{name: "numbers kept exactly", metadata: `{"big":9007199254740993,"tiny":1e-30,"exp":1E2,"scale":1.50,"zero":-0.0,"neg":-12.5e-1}`,
				want: `{"big": 9007199254740993, "exp": 100, "neg": -1.25, "tiny": 0.000000000000000000000000000001, "zero": 0.0, "scale": 1.50}`},
			{name: "nested", metadata: `{"a":{"b":[true,false,null,{"c":"d"}]},"":"empty key"}`, want: `{"": "empty key", "a": {"b": [true, false, null, {"c": "d"}]}}`},
		}
		for _, tt := range tests {
			enqueued, err := enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{Metadata: json.RawMessage(tt.metadata)})
			require.NoError(t, err, tt.name)
			var stored string
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT metadata::text FROM generations WHERE id = $1`, enqueued.Generation.ID).Scan(&stored))
			if tt.want == "" {
				require.Equal(t, `{}`, stored, tt.name)
			} else {
				require.Equal(t, tt.want, stored, tt.name)
			}
		}

		// One more byte is too many, and the message says what is measured.
		_, err := enqueue(t, b, "billing", enqueueTestInput,
			&jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"` + fill((jobs.MaxMetadataBytes-8)/2, `\u00e9`) + `x"}`)})
		var invalid *fal.ValidationError
		require.ErrorAs(t, err, &invalid)
		require.Len(t, invalid.Fields, 1)
		require.Equal(t, "Metadata", invalid.Fields[0].Field)
		require.Contains(t, invalid.Fields[0].Message, "is 16385 bytes, over the limit of 16384: measured as stored")
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

	// The same key replays a request whose metadata jsonb stores as the
	// first's, and refuses one it stores differently, digit for digit.
	t.Run("IdempotencyMetadata", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		tests := []struct {
			name          string
			first, second string
			replayed      bool
		}{
			{name: "integers beyond float64 precision", first: `{"order_id":9007199254740993}`, second: `{"order_id":9007199254740992}`},
			{name: "long decimals", first: `{"x":0.10000000000000000001}`, second: `{"x":0.1}`},
			{name: "trailing zeros", first: `{"x":1.0}`, second: `{"x":1}`},
			{name: "tiny numbers", first: `{"x":1e-400}`, second: `{"x":2e-400}`},
			{name: "same integer", first: `{"order_id":9007199254740993}`, second: `{"order_id":9007199254740993}`, replayed: true},
			{name: "exponent spelled out", first: `{"x":1E2}`, second: `{"x":100}`, replayed: true},
			{name: "scaled exponent", first: `{"x":1.50e1}`, second: `{"x":15.0}`, replayed: true},
			{name: "negative zero", first: `{"x":-0.0}`, second: `{"x":0.0}`, replayed: true},
			{name: "key order and whitespace", first: `{"a":1,"b":[1,2]}`, second: "{ \"b\" : [ 1 , 2 ] ,\n\"a\":1 }", replayed: true},
			{name: "escapes", first: `{"s":"\u00e9\/"}`, second: `{"s":"é/"}`, replayed: true},
			{name: "null and none", first: `null`, second: ``, replayed: true},
		}
		for i, tt := range tests {
			key := fmt.Sprintf("key-%d", i)
			first, err := enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{IdempotencyKey: key, Metadata: json.RawMessage(tt.first)})
			require.NoError(t, err, tt.name)
			second, err := enqueue(t, b, "billing", enqueueTestInput, &jobs.EnqueueOpts{IdempotencyKey: key, Metadata: json.RawMessage(tt.second)})
			if !tt.replayed {
				require.ErrorIs(t, err, jobs.ErrIdempotencyConflict, tt.name)
			} else {
				require.NoError(t, err, tt.name)
				require.True(t, second.Replayed, tt.name)
				require.Equal(t, first.Generation.ID, second.Generation.ID, tt.name)
			}

			// The table says what Postgres says.
			var same bool
			require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT coalesce(nullif(nullif($1, ''), 'null')::jsonb, '{}')::text
				= coalesce(nullif(nullif($2, ''), 'null')::jsonb, '{}')::text`, tt.first, tt.second).Scan(&same))
			require.Equal(t, tt.replayed, same, tt.name)
		}
		require.Equal(t, len(tests), countGenerations(t, b))
	})

	// A client too long for Postgres's indexes is refused before any
	// statement: the caller's transaction goes on.
	t.Run("ClientTooLongKeepsTx", func(t *testing.T) {
		t.Parallel()
		b := setupEnqueue(t)

		err := pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			for _, client := range []string{strings.Repeat("c", jobs.MaxClientBytes+1), strings.Repeat("c", 3000)} {
				_, err := jobs.Enqueue(b.ctx, tx, client, enqueueTestInput, nil)
				var invalid *fal.ValidationError
				require.ErrorAs(t, err, &invalid)
				require.Equal(t, []fal.FieldError{{Field: "client", Message: "must be at most 200 bytes"}}, invalid.Fields)
				require.ErrorContains(t, err, "invalid enqueue arguments: client: must be at most 200 bytes")
			}
			_, err := jobs.Enqueue(b.ctx, tx, "billing", enqueueTestInput, nil)
			return err
		})
		require.NoError(t, err)
		require.Equal(t, 1, countGenerations(t, b))
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

// paddedInput is enqueueTestInput padded with spaces to n bytes.
func paddedInput(n int) string {
	return enqueueTestInput + strings.Repeat(" ", n-len(enqueueTestInput))
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
// HTTP API shows as they are, under its own names.
func TestEnqueueOptsValidate(t *testing.T) {
	t.Parallel()

	const (
		loneSurrogate = `must not contain an unpaired UTF-16 surrogate escape such as \ud800`
		nul           = `must not contain the NUL character (\u0000)`
		outOfRange    = "number out of range: it must be within ±1.7976931348623157e308 (a 64-bit float) " +
			"and have at most 16383 digits after the decimal point (Postgres's limit)"
	)
	tests := []struct {
		name string
		opts *jobs.EnqueueOpts
		want []fal.FieldError // nil: valid
	}{
		{name: "nil", opts: nil},
		{name: "zero", opts: &jobs.EnqueueOpts{}},
		{name: "null metadata", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`null`)}},
		{name: "surrogate pair", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ud83d\ude00"}`)}},
		{name: "largest float", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":[1.7976931348623157e308,-1e-300,0e999999999]}`)}},
		{name: "lone surrogate", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\ud800"}`)},
			want: []fal.FieldError{{Field: "Metadata.k", Message: loneSurrogate}}},
		{name: "high surrogate at the end of a key", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"\ud800":1}`)},
			want: []fal.FieldError{{Field: "Metadata.\uFFFD", Message: "field name " + loneSurrogate}}},
		{name: "NUL", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\u0000"}`)},
			want: []fal.FieldError{{Field: "Metadata.k", Message: nul}}},
		{name: "every metadata problem, by path", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":{"b":"\ud800","c":"\u0000"}}`)},
			want: []fal.FieldError{{Field: "Metadata.a.b", Message: loneSurrogate}, {Field: "Metadata.a.c", Message: nul}}},
		{name: "duplicate keys", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":1,"b":{"c":[],"c":{}},"a":2}`)},
			want: []fal.FieldError{{Field: "Metadata.b.c", Message: "duplicate field"}, {Field: "Metadata.a", Message: "duplicate field"}}},
		{name: "number too large", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":[1e400]}`)},
			want: []fal.FieldError{{Field: "Metadata.a[0]", Message: outOfRange}}},
		{name: "number too precise", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"a":{"b":[0,1.0e-16383]}}`)},
			want: []fal.FieldError{{Field: "Metadata.a.b[1]", Message: outOfRange}}},
		{name: "not UTF-8", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage("{\"\xff\":\"\xfe\"}")},
			want: []fal.FieldError{{Field: "Metadata.\uFFFD", Message: "field name must be valid UTF-8"}, {Field: "Metadata.\uFFFD", Message: "must be valid UTF-8"}}},
		{name: "not an object", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`[{"a":1}]`)},
			want: []fal.FieldError{{Field: "Metadata", Message: "must be a JSON object"}}},
		{name: "not JSON whitespace around it", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage("\u00a0{}")},
			want: []fal.FieldError{{Field: "Metadata", Message: "must be a JSON object"}}},
		{name: "too large, with a problem inside", opts: &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"` + strings.Repeat("é", 8190) + `","n":1e999}`)},
			want: []fal.FieldError{
				{Field: "Metadata", Message: "is 16398 bytes, over the limit of 16384: measured as stored, in compact JSON with every string in UTF-8 " +
					"(an escape such as \\u00e9 counts as the character it stands for) and every number as Postgres writes it (1e3 as 1000)"},
				{Field: "Metadata.n", Message: outOfRange},
			}},
		{name: "callback user info", opts: &jobs.EnqueueOpts{CallbackURL: "http://a:b@example.com/"},
			want: []fal.FieldError{{Field: "CallbackURL", Message: "must not contain a user name or password"}}},
		{name: "callback fragment", opts: &jobs.EnqueueOpts{CallbackURL: "http://example.com/#f"},
			want: []fal.FieldError{{Field: "CallbackURL", Message: "must not contain a fragment"}}},
		{name: "run_at", opts: &jobs.EnqueueOpts{RunAt: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)},
			want: []fal.FieldError{{Field: "RunAt", Message: "must be at most 365 days from now; a time in the past means now"}}},
		{name: "idempotency key", opts: &jobs.EnqueueOpts{IdempotencyKey: "é"},
			want: []fal.FieldError{{Field: "IdempotencyKey", Message: "must be at most 255 printable ASCII characters"}}},
		{name: "priority", opts: &jobs.EnqueueOpts{Priority: -1},
			want: []fal.FieldError{{Field: "Priority", Message: "must be an integer from 1 (highest) to 4 (lowest)"}}},
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
			// Go's names, and no claim that the input is at fault.
			require.True(t, strings.HasPrefix(err.Error(), "invalid enqueue options: "+tt.want[0].Field+": "+tt.want[0].Message), err.Error())
		})
	}
}

// ParseInput refuses what Enqueue refuses, from the first byte over
// MaxInputBytes, in every form an input takes.
func TestParseInputSizeCap(t *testing.T) {
	t.Parallel()

	fields := func(n int) map[string]json.RawMessage {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(enqueueTestInput), &m); err != nil {
			panic(err)
		}
		// {"image_prompt_1":...,"prompt":"a lighthouse at dusk"} without the
		// prompt, then a prompt that makes n bytes.
		delete(m, "prompt")
		rest, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		m["prompt"] = json.RawMessage(`"` + strings.Repeat(" ", n-len(rest)-len(`,"prompt":""`)) + `"`)
		return m
	}
	tests := []struct {
		name  string
		input any
		want  []string // the fields named; nil: valid
	}{
		{name: "string at the cap", input: paddedInput(jobs.MaxInputBytes)},
		{name: "string over the cap", input: paddedInput(jobs.MaxInputBytes + 1), want: []string{"input"}},
		{name: "raw over the cap", input: json.RawMessage(paddedInput(jobs.MaxInputBytes + 1)), want: []string{"input"}},
		// Not too large, though its prompt is too long.
		{name: "fields at the cap", input: fields(jobs.MaxInputBytes), want: []string{"prompt"}},
		{name: "fields over the cap", input: fields(jobs.MaxInputBytes + 1), want: []string{"input"}},
		{name: "value over the cap", input: struct {
			Prompt string `json:"prompt"`
		}{strings.Repeat("a", jobs.MaxInputBytes)}, want: []string{"input"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := jobs.ParseInput(tt.input)
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			var invalid *fal.ValidationError
			require.ErrorAs(t, err, &invalid)
			var fields []string
			for _, f := range invalid.Fields {
				fields = append(fields, f.Field)
			}
			require.Equal(t, tt.want, fields)
			if tt.want[0] == "input" {
				require.Regexp(t, `^is 83886(09|21) bytes of JSON, over the limit of 8388608; pass large images by URL$`, invalid.Fields[0].Message)
			}
		})
	}
}
