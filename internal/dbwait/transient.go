package dbwait

import (
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Transient reports whether a failed connection, or a statement on one,
// may succeed soon: the server refusing connections (down, starting,
// shutting down, full) or dropping them, not rejecting these credentials or
// this database.
func Transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// 57P0x: shutting down, crashed, cannot connect now (starting up);
		// 53300: too many connections; class 08: connection exceptions.
		return strings.HasPrefix(pgErr.Code, "57P") || pgErr.Code == "53300" || strings.HasPrefix(pgErr.Code, "08")
	}
	// A connection Postgres closed while shutting down, before or instead
	// of its FATAL message: "failed to receive message: unexpected EOF".
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) || pgconn.Timeout(err)
}

// missingDatabase reports whether the server answered that the database
// does not exist (invalid_catalog_name).
func missingDatabase(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "3D000"
}
