package migrations_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/migrations"
)

// A DATABASE_URL that cannot be parsed is refused without a piece of it:
// pgx masks a password only where it can read the string, and the error it
// wraps may quote what follows a password's unescaped '@' or space.
func TestConnConfigNeverShowsTheValue(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name, url, want, secret string
	}{
		{name: "space in the password", url: "postgres://u:p@ss word@127.0.0.1/db", want: "failed to parse as URL", secret: "ss word"},
		{name: "bad escape in the password", url: "postgres://easel:hun%ter2@db/easel", want: "failed to parse as URL", secret: "ter2"},
		{name: "bad port", url: "postgres://easel:hunter2@db:99999/easel", want: "invalid port", secret: "hunter2"},
		{name: "keyword/value", url: "host=db password hunter2", want: "failed to parse as keyword/value", secret: "hunter2"},
		{name: "bad pool parameter", url: "postgres://easel:hunter2@db/easel?pool_max_conns=lots", want: "cannot parse pool_max_conns", secret: "hunter2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := migrations.ConnConfig(tt.url)
			require.ErrorContains(t, err, "parse DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/easel) or keyword/value string: "+tt.want)
			require.ErrorContains(t, err, "(the value is not shown: it may hold a password)")
			require.NotContains(t, err.Error(), tt.secret)
		})
	}
}
