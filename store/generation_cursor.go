package store

// InRange reports whether c's time is one a cursor may name: years 1 to
// 9999 UTC, the years RFC 3339 can write and well inside what Postgres
// stores (4713 BC to 294276 AD). A cursor arrives from a URL, and a time
// outside Postgres's range fails the whole query (SQLSTATE 22008) where it
// should match nothing; every generation's created_at is inside it, so no
// cursor Easel handed out is refused.
func (c GenerationCursor) InRange() bool {
	y := c.CreatedAt.UTC().Year()
	return 1 <= y && y <= 9999
}
