package api

import (
	"encoding/binary"
	"math"
	"net/url"
	"slices"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/store"
)

// FuzzParseListQuery drives GET /v1/generations's query parsing with
// arbitrary query strings, as the handler does: it never panics, a query
// string that is not URL encoding is refused, and whatever it accepts is a
// query the store can run.
func FuzzParseListQuery(f *testing.F) {
	cursor := *encodeCursor(&store.GenerationCursor{CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), ID: uuid.New()})
	for _, seed := range []string{
		"",
		"status=queued,failed&status=completed&client=billing&limit=20",
		"since=2026-03-01T12:00:00Z&until=2026-03-02T00:00:00.5%2B01:00&has_nsfw=false",
		"cursor=" + cursor + "&limit=500",
		"limit=-1&has_nsfw=1&status=nope&wait=30s&cursor=%00",
		"client=a%00b",
		"status=%ff&since=2026-03-01T12:00:00+01:00",
		"client=na%C3%AFve&until=2026-03-01T12:00:00%2001:00",
		// Not URL encoding: dropped with url.Values' error, each of these
		// once listed every client's generations.
		"client=nobody%zz",
		"status=queued;status=failed",
		"limit=%zz&%zz=1&=%",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, details := parseRawQuery(raw)
		if _, err := url.ParseQuery(raw); err != nil {
			// Nothing of such a query is read: its filters could be lost.
			require.NotEmpty(t, details, "%q: %v", raw, err)
			require.Nil(t, q)
		} else {
			require.Empty(t, details, raw)
		}
		var p store.ListGenerationsParams
		if len(details) == 0 {
			p, details = parseListQuery(q)
		}
		if len(details) > 0 {
			for _, d := range details {
				require.NotEmpty(t, d.Field)
				require.NotEmpty(t, d.Message)
			}
			return
		}
		// Postgres text holds neither; passed on, they failed the query.
		require.True(t, utf8.ValidString(p.Client), "client %q is not UTF-8", p.Client)
		require.NotContains(t, p.Client, "\x00")
		require.GreaterOrEqual(t, p.Limit, 1)
		require.LessOrEqual(t, p.Limit, MaxListLimit)
		for _, s := range p.Statuses {
			require.Contains(t, store.Statuses, s)
		}
		require.Len(t, p.Statuses, len(slices.Compact(slices.Sorted(slices.Values(p.Statuses)))))
		if p.After != nil {
			require.Equal(t, q.Get("cursor"), *encodeCursor(p.After), "a cursor has one spelling")
		}
	})
}

// FuzzDecodeCursor checks that decoding any string either fails or yields
// the position that encodes back to the same string.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(*encodeCursor(&store.GenerationCursor{CreatedAt: time.Unix(1700000000, 1000).UTC(), ID: uuid.New()}))
	f.Add(*encodeCursor(&store.GenerationCursor{CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Nil}))
	f.Add(rawCursor(math.MinInt64, uuid.Nil))
	f.Add(rawCursor(math.MaxInt64, uuid.Max))
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			require.ErrorIs(t, err, errBadCursor)
			return
		}
		require.Equal(t, s, *encodeCursor(c))
		require.True(t, c.InRange(), "an accepted cursor is one Postgres can compare")
	})
}

// rawCursor is the cursor of micros and id, whether or not the time is one
// a cursor may name.
func rawCursor(micros int64, id uuid.UUID) string {
	b := binary.BigEndian.AppendUint64([]byte{cursorVersion}, uint64(micros))
	return cursorEncoding.EncodeToString(append(b, id[:]...))
}

// TestDecodeCursorRange: a well-formed cursor is refused as any bad one is
// when its time is outside the years a cursor may name
// (store.GenerationCursor.InRange), and read up to both ends of them.
func TestDecodeCursorRange(t *testing.T) {
	t.Parallel()
	id := uuid.Must(uuid.NewV7())
	year1 := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	year10000 := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)

	for _, tt := range []struct {
		name   string
		micros int64
		ok     bool
		want   time.Time
	}{
		{"min int64", math.MinInt64, false, time.Time{}},
		{"max int64", math.MaxInt64, false, time.Time{}},
		{"year 0", year1.UnixMicro() - 1, false, time.Time{}},
		{"year 10000", year10000.UnixMicro(), false, time.Time{}},
		{"first instant of year 1", year1.UnixMicro(), true, year1},
		{"last instant of year 9999", year10000.UnixMicro() - 1, true, year10000.Add(-time.Microsecond)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := decodeCursor(rawCursor(tt.micros, id))
			if !tt.ok {
				require.ErrorIs(t, err, errBadCursor)
				require.Nil(t, c)
				return
			}
			require.NoError(t, err)
			require.Equal(t, store.GenerationCursor{CreatedAt: tt.want, ID: id}, *c)
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()

	for _, c := range []store.GenerationCursor{
		{CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC), ID: uuid.Must(uuid.NewV7())},
		{CreatedAt: time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), ID: uuid.Nil},
		{CreatedAt: time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), ID: uuid.New()},
	} {
		s := encodeCursor(&c)
		got, err := decodeCursor(*s)
		require.NoError(t, err)
		require.Equal(t, c, *got)
	}
	require.Nil(t, encodeCursor(nil))
}
