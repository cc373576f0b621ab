package migrations

import (
	"errors"
	"fmt"
	"testing"

	"github.com/golang-migrate/migrate/v4/database"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

func TestReadable(t *testing.T) {
	t.Parallel()

	query := "-- header\nCREATE TABLE a (id int);\nCREATE INDEX ON a (nope);\nCREATE TABLE b (id int);\n"
	position := int32(len("-- header\nCREATE TABLE a (id int);\nCREATE INDEX ON a (") + 1)
	missingColumn := &pgconn.PgError{Severity: "ERROR", Code: "42703", Message: `column "nope" does not exist`, Position: position}

	tests := []struct {
		name string
		err  error
		want string
	}{
		{
			name: "position: its line and column",
			err:  database.Error{OrigErr: missingColumn, Err: "migration failed", Query: []byte(query), Line: 3},
			want: `migration x.up.sql failed at line 3, column 20 (CREATE INDEX ON a (nope);): ERROR: column "nope" does not exist (SQLSTATE 42703)`,
		},
		{
			name: "pointer, wrapped, with detail",
			err: fmt.Errorf("wrapped: %w", &database.Error{OrigErr: &pgconn.PgError{Severity: "ERROR", Code: "23505", Message: "duplicate key", Detail: "Key (id)=(1) already exists."},
				Query: []byte(query)}),
			want: `migration x.up.sql failed: ERROR: duplicate key (SQLSTATE 23505); Key (id)=(1) already exists.`,
		},
		{
			name: "not Postgres's error",
			err:  database.Error{OrigErr: errors.New("conn closed"), Query: []byte(query)},
			want: "migration x.up.sql failed: conn closed",
		},
		{
			name: "not a migration's error",
			err:  errors.New("no migration"),
			want: "no migration",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := readable(tt.err, "migration x.up.sql")
			require.EqualError(t, got, tt.want)
			var pgErr *pgconn.PgError
			require.Equal(t, errors.As(tt.err, &pgErr) || errors.As(orig(tt.err), &pgErr), errors.As(got, &pgErr), "Postgres's error stays reachable")
		})
	}
}

func orig(err error) error {
	var e database.Error
	if errors.As(err, &e) {
		return e.OrigErr
	}
	var p *database.Error
	if errors.As(err, &p) {
		return p.OrigErr
	}
	return nil
}

func TestLocateLongLine(t *testing.T) {
	t.Parallel()

	long := "SELECT " + string(make([]byte, 200)) + "x"
	line, col, text, ok := locate("\n"+long, 3)
	require.True(t, ok)
	require.Equal(t, 2, line)
	require.Equal(t, 2, col)
	require.Len(t, []rune(text), 101, "100 characters and an ellipsis")

	for _, position := range []int{0, 500} {
		_, _, _, ok := locate(long, position)
		require.False(t, ok, "position %d", position)
	}
}

func TestFirstSchema(t *testing.T) {
	t.Parallel()

	tests := []struct {
		searchPath string
		want       string
		wantOK     bool
	}{
		{searchPath: `easel`, want: "easel", wantOK: true},
		{searchPath: ` Easel , public`, want: "easel", wantOK: true},
		{searchPath: `"Easel Jobs", public`, want: "Easel Jobs", wantOK: true},
		{searchPath: `"a""b"`, want: `a"b`, wantOK: true},
		{searchPath: `"$user", public`},
		{searchPath: `$user, public`},
		{searchPath: ``},
		{searchPath: `""`},
		{searchPath: `"unterminated`},
	}
	for _, tt := range tests {
		t.Run(tt.searchPath, func(t *testing.T) {
			t.Parallel()
			got, ok := firstSchema(tt.searchPath)
			require.Equal(t, tt.wantOK, ok)
			if ok {
				require.Equal(t, tt.want, got)
			}
		})
	}
}

func TestWithSearchPath(t *testing.T) {
	t.Parallel()

	tests := []struct {
		url  string
		want string
	}{
		{url: "postgres://app:s3cret@db:5432/app?sslmode=require", want: "postgres://app:xxxxx@db:5432/app?search_path=easel&sslmode=require"},
		{url: "postgres://app@db/app?search_path=public", want: "postgres://app@db/app?search_path=easel"},
		{url: "host=db user=app password='s3 cret' dbname=app", want: "DATABASE_URL followed by ' search_path=easel'"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			t.Parallel()
			got := withSearchPath(tt.url, "easel")
			require.Equal(t, tt.want, got)
			require.NotContains(t, got, "s3")
		})
	}
}
