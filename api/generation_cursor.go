package api

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/easelhq/easel/store"
)

// A cursor is opaque to clients: base64url of a version byte, created_at in
// Unix microseconds (Postgres's precision, so the position is exact) and
// the id. The version lets its layout change without misreading old ones.
const (
	cursorVersion = 1
	cursorLen     = 1 + 8 + 16
)

var cursorEncoding = base64.RawURLEncoding.Strict()

var errBadCursor = errors.New("not a cursor returned by this API")

func encodeCursor(c *store.GenerationCursor) *string {
	if c == nil {
		return nil
	}
	b := make([]byte, 0, cursorLen)
	b = append(b, cursorVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(c.CreatedAt.UnixMicro()))
	b = append(b, c.ID[:]...)
	s := cursorEncoding.EncodeToString(b)
	return &s
}

func decodeCursor(s string) (*store.GenerationCursor, error) {
	b, err := cursorEncoding.DecodeString(s)
	// Only what encodeCursor writes is a cursor: the decoder skips \r and
	// \n, and two spellings of one position would make cursors comparable
	// by neither bytes nor meaning.
	if err != nil || len(b) != cursorLen || b[0] != cursorVersion || cursorEncoding.EncodeToString(b) != s {
		return nil, errBadCursor
	}
	id, err := uuid.FromBytes(b[9:])
	if err != nil {
		return nil, errBadCursor
	}
	micros := int64(binary.BigEndian.Uint64(b[1:9]))
	c := &store.GenerationCursor{CreatedAt: time.UnixMicro(micros).UTC(), ID: id}
	if !c.InRange() {
		// Well formed, but no row is there: only a crafted cursor names
		// such a time, and Postgres would fail the query on it.
		return nil, errBadCursor
	}
	return c, nil
}
