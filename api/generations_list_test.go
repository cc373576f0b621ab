package api_test

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/resource"
	"github.com/easelhq/easel/store"
)

type listPage struct {
	Data       []resource.Generation `json:"data"`
	NextCursor *string               `json:"next_cursor"`
}

func (b *historyBundle) list(t *testing.T, query string) listPage {
	t.Helper()
	resp := b.get(t, b.ctx, "/v1/generations?"+query)
	require.Equal(t, http.StatusOK, resp.status, string(resp.body))
	var page listPage
	require.NoError(t, json.Unmarshal(resp.body, &page))
	require.NotNil(t, page.Data, "data is an array, never null")
	return page
}

// listAll follows next_cursor to the end and returns the ids in order.
func (b *historyBundle) listAll(t *testing.T, query url.Values) []uuid.UUID {
	t.Helper()
	var ids []uuid.UUID
	for {
		page := b.list(t, query.Encode())
		for _, g := range page.Data {
			ids = append(ids, g.ID)
		}
		if page.NextCursor == nil {
			return ids
		}
		query.Set("cursor", *page.NextCursor)
	}
}

// seed inserts a generation of client created at createdAt and moves it to
// status; completed ones get images, NSFW when nsfw.
func (b *historyBundle) seed(t *testing.T, client string, createdAt time.Time, status store.Status, nsfw bool) uuid.UUID {
	t.Helper()
	g, err := store.InsertGeneration(b.ctx, b.pool, store.InsertGenerationParams{
		ID: uuid.Must(uuid.NewV7()), Client: client, EndpointID: "fal-ai/fooocus/image-prompt",
		Input: json.RawMessage(falDefaultedExample), Priority: 2,
	})
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE generations SET created_at = $2 WHERE id = $1`, g.ID, createdAt)
	require.NoError(t, err)
	switch status {
	case store.StatusCompleted:
		require.NoError(t, pgx.BeginFunc(b.ctx, b.pool, func(tx pgx.Tx) error {
			_, err := store.Complete(b.ctx, tx, g.ID, store.Completion{Images: []store.Image{
				{Position: 0, URL: "https://x/" + g.ID.String() + "/0.png", NSFW: new(false)},
				{Position: 1, URL: "https://x/" + g.ID.String() + "/1.png", NSFW: new(nsfw)},
			}})
			return err
		}))
	case store.StatusSubmitted:
		_, err = store.RecordSubmitted(b.ctx, b.pool, g.ID, store.Submission{RequestID: "req-" + g.ID.String()})
	case store.StatusFailed:
		_, err = store.Fail(b.ctx, b.pool, g.ID, "fal_server_error", "500")
	case store.StatusCancelled:
		_, err = store.Cancel(b.ctx, b.pool, g.ID, "by client")
	}
	require.NoError(t, err)
	return g.ID
}

func TestListGenerationsFiltersAPI(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }

	clean := b.seed(t, "alpha", at(0), store.StatusCompleted, false)
	nsfw := b.seed(t, "beta", at(1), store.StatusCompleted, true)
	failed := b.seed(t, "alpha", at(2), store.StatusFailed, false)
	submitted := b.seed(t, "beta", at(3), store.StatusSubmitted, false)
	cancelled := b.seed(t, "alpha", at(4), store.StatusCancelled, false)
	queued := b.seed(t, "alpha", at(5), store.StatusQueued, false)

	tests := []struct {
		query string
		want  []uuid.UUID
	}{
		{"", []uuid.UUID{queued, cancelled, submitted, failed, nsfw, clean}},
		{"status=completed", []uuid.UUID{nsfw, clean}},
		{"status=queued,failed", []uuid.UUID{queued, failed}},
		{"status=queued&status=failed&status=cancelled", []uuid.UUID{queued, cancelled, failed}},
		{"status=failed,%20submitted&status=failed", []uuid.UUID{submitted, failed}},
		{"client=beta", []uuid.UUID{submitted, nsfw}},
		{"client=nobody", nil},
		{"client=na%C3%AFve", nil}, // valid UTF-8 is a client name like any other
		{"since=2026-03-01T14:00:00Z", []uuid.UUID{queued, cancelled, submitted, failed}},
		{"until=2026-03-01T14:00:00Z", []uuid.UUID{nsfw, clean}},
		{"since=2026-03-01T15:00:00%2B01:00&until=2026-03-01T15:00:00.000001Z", []uuid.UUID{submitted, failed}},
		{"has_nsfw=true", []uuid.UUID{nsfw}},
		{"has_nsfw=false", []uuid.UUID{clean}},
		{"client=alpha&status=completed,failed,queued&since=2026-03-01T12:00:00Z&until=2026-03-01T16:00:00Z",
			[]uuid.UUID{failed, clean}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			query, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			query.Set("limit", "2")
			got := b.listAll(t, query)
			if len(tc.want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}

	// Each item is the full resource, images included.
	page := b.list(t, "has_nsfw=true")
	require.Len(t, page.Data, 1)
	g := page.Data[0]
	require.Equal(t, "beta", g.Client)
	require.Equal(t, store.StatusCompleted, g.Status)
	require.JSONEq(t, falDefaultedExample, string(g.Input))
	require.Equal(t, []resource.Image{
		{URL: "https://x/" + nsfw.String() + "/0.png", NSFW: new(false)},
		{URL: "https://x/" + nsfw.String() + "/1.png", NSFW: new(true)},
	}, g.Images)
	require.Nil(t, page.NextCursor)
	require.Empty(t, b.list(t, "status=queued").Data[0].Images)
}

func TestListGenerationsLimit(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	_, err := b.pool.Exec(b.ctx, `
		INSERT INTO generations (id, client, endpoint_id, input, created_at)
		SELECT gen_random_uuid(), 'alpha', 'fal-ai/fooocus/image-prompt', $2, now() - n * interval '1 second'
		FROM generate_series(1, $1::int) n`, api.MaxListLimit+1, falDefaultedExample)
	require.NoError(t, err)

	page := b.list(t, "")
	require.Len(t, page.Data, api.DefaultListLimit)
	require.NotNil(t, page.NextCursor)

	page = b.list(t, "limit=100000")
	require.Len(t, page.Data, api.MaxListLimit, "limit is capped")
	require.NotNil(t, page.NextCursor)

	page = b.list(t, "limit=200&cursor="+*page.NextCursor)
	require.Len(t, page.Data, 1)
	require.Nil(t, page.NextCursor)
}

func TestListGenerationsStableAcrossInsertsAPI(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	past := time.Now().Add(-time.Hour)
	var existing []uuid.UUID
	for i := range 5 {
		existing = append([]uuid.UUID{b.seed(t, "alpha", past.Add(time.Duration(i)*time.Second), store.StatusQueued, false)}, existing...)
	}

	// A generation enqueued between pages sorts before page 1, so the
	// following pages neither repeat nor skip a row.
	var got []uuid.UUID
	query := url.Values{"limit": {"2"}}
	for {
		page := b.list(t, query.Encode())
		for _, g := range page.Data {
			got = append(got, g.ID)
		}
		if page.NextCursor == nil {
			break
		}
		query.Set("cursor", *page.NextCursor)
		b.insert(t)
	}
	require.Equal(t, existing, got)
	require.Len(t, b.list(t, "limit=200").Data, len(existing)+2)
}

func TestListGenerationsInvalid(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)

	tests := []struct {
		query string
		want  []string
	}{
		{"status=done", []string{"status"}},
		{"status=queued,", []string{"status"}},
		{"client=", []string{"client"}},
		{"client=a&client=b", []string{"client"}},
		{"since=yesterday", []string{"since"}},
		{"until=2026-03-01", []string{"until"}},
		{"since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", []string{"until"}},
		{"has_nsfw=yes", []string{"has_nsfw"}},
		{"limit=0", []string{"limit"}},
		{"limit=ten", []string{"limit"}},
		{"cursor=abc", []string{"cursor"}},
		{"statuses=queued", []string{"statuses"}},
		{"limit=-1&has_nsfw=1&status=nope&wait=30s", []string{"has_nsfw", "limit", "status", "wait"}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			resp := b.get(t, b.ctx, "/v1/generations?"+tc.query)
			require.Equal(t, tc.want, invalidFields(t, resp))
		})
	}
}

// TestListGenerationsCursorRange: a well-formed cursor whose time Postgres
// cannot hold (a crafted one: every row's is inside) is refused with the
// 422 of any bad cursor rather than failing the query with a 500, and the
// years just inside the range are still read.
func TestListGenerationsCursorRange(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	id := b.seed(t, "alpha", time.Now().Add(-time.Hour), store.StatusQueued, false)

	// Spelt out rather than made by the API, so that the layout of the
	// cursors clients hold is pinned: version 1, created_at in Unix
	// microseconds (big-endian), the id.
	cursor := func(micros int64) string {
		raw := binary.BigEndian.AppendUint64([]byte{1}, uint64(micros))
		raw = append(raw, uuid.Max[:]...)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	year1 := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

	tests := []struct {
		name   string
		micros int64
		want   []uuid.UUID // nil: refused
	}{
		{"min int64", math.MinInt64, nil},
		{"max int64", math.MaxInt64, nil},
		{"year 0", year1 - 1, nil},
		{"year 10000", year10000, nil},
		{"first instant of year 1", year1, []uuid.UUID{}},
		{"last instant of year 9999", year10000 - 1, []uuid.UUID{id}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := "/v1/generations?cursor=" + cursor(tc.micros)
			if tc.want == nil {
				resp := b.get(t, b.ctx, path)
				require.Equal(t, []string{"cursor"}, invalidFields(t, resp))
				require.Equal(t, "not a cursor returned by this API", resp.errorBody(t).Details[0].Message)
				return
			}
			got := []uuid.UUID{}
			for _, g := range b.list(t, "cursor="+cursor(tc.micros)).Data {
				got = append(got, g.ID)
			}
			require.Equal(t, tc.want, got)
		})
	}
}

// TestListGenerationsRefusesNonText: a NUL byte or invalid UTF-8, which no
// Postgres text holds, is refused in every parameter with a 422 naming it,
// rather than reaching the query and failing it (a 500).
func TestListGenerationsRefusesNonText(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	const message = "must be UTF-8 text without NUL characters (%00)"

	tests := []struct {
		query string
		field string
	}{
		{"client=a%00b", "client"},
		{"client=%00", "client"},
		{"client=%ff", "client"},
		{"client=na%C3", "client"},     // truncated sequence
		{"client=%ED%A0%80", "client"}, // surrogate
		{"status=%00", "status"},
		{"status=queued&status=failed%ff", "status"},
		{"status=queued,%00", "status"},
		{"since=2026-03-01T00:00:00Z%00", "since"},
		{"since=%ff", "since"},
		{"until=2026-03-01T00:00:00Z%00", "until"},
		{"until=%C0%80", "until"}, // overlong NUL
		{"has_nsfw=true%00", "has_nsfw"},
		{"has_nsfw=%ff", "has_nsfw"},
		{"limit=1%00", "limit"},
		{"limit=%ff", "limit"},
		{"cursor=%00", "cursor"},
		{"cursor=%ff", "cursor"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			resp := b.get(t, b.ctx, "/v1/generations?"+tc.query)
			require.Equal(t, []string{tc.field}, invalidFields(t, resp))
			require.Equal(t, message, resp.errorBody(t).Details[0].Message)
		})
	}
}

// TestListGenerationsTimestampPlus: an unencoded '+' offset arrives as a
// space, and the refusal says how to send it.
func TestListGenerationsTimestampPlus(t *testing.T) {
	t.Parallel()
	b := setupHistory(t)
	const (
		generic = "must be an RFC 3339 timestamp, e.g. 2026-01-02T15:04:05Z"
		hint    = generic + "; a '+' in a URL query must be sent as %2B, or it reads as a space"
	)

	tests := []struct {
		query   string
		field   string
		message string
	}{
		{"since=2026-03-01T15:00:00+01:00", "since", hint},
		{"until=2026-03-01T15:00:00.123456+05:30", "until", hint},
		{"since=2026-03-01T15:00:00%2001:00", "since", hint}, // the same bytes, spelt out
		{"since=2026-03-01T15:00:00+0100", "since", hint},
		{"since=2026-03-01+15:00:00Z", "since", generic}, // a space, but not before an offset
		{"since=2026-03-01T15:00:00+01", "since", generic},
		{"until=yesterday", "until", generic},
		{"until=2026-03-01T15:00:00+01:00x", "until", generic},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			t.Parallel()
			resp := b.get(t, b.ctx, "/v1/generations?"+tc.query)
			require.Equal(t, []string{tc.field}, invalidFields(t, resp))
			require.Equal(t, tc.message, resp.errorBody(t).Details[0].Message)
		})
	}

	// Encoded, the same offset is read.
	require.NotNil(t, b.list(t, "since=2026-03-01T15:00:00%2B01:00").Data)
}
