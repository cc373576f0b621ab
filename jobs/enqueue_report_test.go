package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/jobs"
)

// TestEnqueueReportsEveryField: whatever is wrong with the client, the
// input and the options is named in one error, the input's fields as the
// HTTP API names them (api's generations_test has the same inputs' HTTP
// answers), before any statement, the caller's transaction going on.
func TestEnqueueReportsEveryField(t *testing.T) {
	t.Parallel()

	type reportBundle struct {
		ctx  context.Context
		pool *pgxpool.Pool
	}
	setup := func(t *testing.T) *reportBundle {
		t.Helper()
		return &reportBundle{ctx: context.Background(), pool: dbtest.Pool(t)}
	}

	const (
		imagePrompt = `"image_prompt_1":{"image_url":"https://example.com/a.png"}`
		nul         = `must not contain the NUL character (\u0000)`
		nulName     = `field name must not contain the NUL character (\u0000)`
		badPriority = "must be an integer from 1 (highest) to 4 (lowest)"
		badNum      = "must be an integer between 1 and 4"
	)
	withNUL := fal.NewImagePromptInput("a\x00b", "https://example.com/a.png")
	var splitWithNUL map[string]json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(`{"prompt":"a\u0000b",`+imagePrompt+`}`), &splitWithNUL))
	parsedWithNUL := mustParseInput(t, `{"prompt":"a\u0000b",`+imagePrompt+`}`)

	tests := []struct {
		name   string
		client string
		input  any
		opts   *jobs.EnqueueOpts
		want   []fal.FieldError
		// wantPrefix is the start of the error's message: "invalid input"
		// for the input alone, as ever.
		wantPrefix string
	}{
		{name: "options and input (the review's num_images 9, priority 9)", client: "shop",
			input: `{"num_images":9,` + imagePrompt + `}`, opts: &jobs.EnqueueOpts{Priority: 9},
			want:       []fal.FieldError{{Field: "num_images", Message: badNum}, {Field: "Priority", Message: badPriority}},
			wantPrefix: "invalid enqueue arguments: num_images: " + badNum + "; Priority: " + badPriority},
		{name: "client, input and options, in the order of the arguments", client: "",
			input: `{"num_images":9,` + imagePrompt + `}`, opts: &jobs.EnqueueOpts{Priority: 9, RunAt: time.Now().Add(2 * jobs.MaxRunAtAhead)},
			want: []fal.FieldError{{Field: "client", Message: "must not be empty"}, {Field: "num_images", Message: badNum},
				{Field: "Priority", Message: badPriority}, {Field: "RunAt", Message: "must be at most 365 days from now; a time in the past means now"}},
			wantPrefix: "invalid enqueue arguments: client: must not be empty; num_images: "},
		{name: "NUL in prompt, named prompt", client: "shop", input: `{"prompt":"a\u0000b",` + imagePrompt + `}`,
			want: []fal.FieldError{{Field: "prompt", Message: nul}}, wantPrefix: "invalid input: prompt: " + nul},
		{name: "NULs first, as HTTP lists them, then the input's other problems, then the options", client: "shop",
			input: `{"prompt":"a\u0000b","num_images":0,"image_prompt_1":{"image_url":"https://example.com/\u0000.png"}}`,
			opts:  &jobs.EnqueueOpts{Priority: 9},
			want: []fal.FieldError{{Field: "prompt", Message: nul}, {Field: "image_prompt_1.image_url", Message: nul},
				{Field: "num_images", Message: badNum},
				{Field: "image_prompt_1.image_url", Message: "must be an absolute http(s) URL or a base64 data: URI"},
				{Field: "Priority", Message: badPriority}},
			wantPrefix: "invalid enqueue arguments: prompt: "},
		{name: "NUL in a field name, also unknown", client: "shop", input: `{"pro\u0000mpt":"x",` + imagePrompt + `}`,
			want:       []fal.FieldError{{Field: "pro\x00mpt", Message: nulName}, {Field: "pro\x00mpt", Message: `unknown field; did you mean "prompt"?`}},
			wantPrefix: "invalid input: "},
		{name: "NUL deep in the input and in the metadata", client: "shop",
			input: `{"loras":[{"path":"a/b"},{"path":"c\u0000"}],` + imagePrompt + `}`,
			opts:  &jobs.EnqueueOpts{Metadata: json.RawMessage(`{"k":"\u0000"}`)},
			want:  []fal.FieldError{{Field: "loras[1].path", Message: nul}, {Field: "Metadata.k", Message: nul}}, wantPrefix: "invalid enqueue arguments: loras[1].path: "},
		{name: "an escaped backslash before u0000 is no NUL", client: "", input: `{"prompt":"\\u0000",` + imagePrompt + `}`,
			want: []fal.FieldError{{Field: "client", Message: "must not be empty"}}, wantPrefix: "invalid enqueue arguments: client: "},
		{name: "NUL in a typed input", client: "shop", input: withNUL, opts: &jobs.EnqueueOpts{Priority: 9},
			want: []fal.FieldError{{Field: "prompt", Message: nul}, {Field: "Priority", Message: badPriority}}, wantPrefix: "invalid enqueue arguments: prompt: "},
		{name: "NUL in an input split into fields", client: "", input: splitWithNUL,
			want: []fal.FieldError{{Field: "client", Message: "must not be empty"}, {Field: "prompt", Message: nul}}, wantPrefix: "invalid enqueue arguments: client: "},
		{name: "NUL in a parsed input", client: "shop", input: parsedWithNUL, opts: &jobs.EnqueueOpts{IdempotencyKey: "\n"},
			want:       []fal.FieldError{{Field: "prompt", Message: nul}, {Field: "IdempotencyKey", Message: "must be at most 255 printable ASCII characters"}},
			wantPrefix: "invalid enqueue arguments: prompt: "},
		{name: "malformed JSON and an option", client: "shop", input: `{"prompt":`, opts: &jobs.EnqueueOpts{Priority: 9},
			want:       []fal.FieldError{{Field: "prompt", Message: "malformed JSON at byte offset 10: unexpected end of JSON input"}, {Field: "Priority", Message: badPriority}},
			wantPrefix: "invalid enqueue arguments: prompt: malformed JSON"},
		{name: "the input as a whole has no field name to print", client: "", input: &jobs.Input{},
			want:       []fal.FieldError{{Field: "client", Message: "must not be empty"}, {Message: "a jobs.Input must come from jobs.ParseInput"}},
			wantPrefix: "invalid enqueue arguments: client: must not be empty; a jobs.Input must come from jobs.ParseInput"},
		{name: "too large, and a bad client", client: "", input: paddedInput(jobs.MaxInputBytes + 1),
			want: []fal.FieldError{{Field: "client", Message: "must not be empty"},
				{Field: "input", Message: "is 8388609 bytes of JSON, over the limit of 8388608; pass large images by URL"}},
			wantPrefix: "invalid enqueue arguments: client: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)

			check := func(t *testing.T, err error) {
				t.Helper()
				invalid, ok := errors.AsType[*fal.ValidationError](err)
				require.True(t, ok, "%v", err)
				require.Equal(t, tt.want, invalid.Fields)
				require.True(t, strings.HasPrefix(err.Error(), tt.wantPrefix), err.Error())
			}

			err := pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
				_, err := jobs.Enqueue(b.ctx, tx, tt.client, tt.input, tt.opts)
				check(t, err)
				// No statement failed: the transaction goes on.
				_, err = jobs.Enqueue(b.ctx, tx, "shop", enqueueTestInput, nil)
				return err
			})
			require.NoError(t, err)

			_, err = jobs.EnqueuePool(b.ctx, b.pool, tt.client, tt.input, tt.opts)
			check(t, err)

			var prompts []string
			rows, err := b.pool.Query(b.ctx, `SELECT input->>'prompt' FROM generations`)
			require.NoError(t, err)
			prompts, err = pgx.CollectRows(rows, pgx.RowTo[string])
			require.NoError(t, err)
			require.Equal(t, []string{"a lighthouse at dusk"}, prompts, "the valid enqueue after the refused one, alone")
		})
	}
}
