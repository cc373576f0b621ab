package dbtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// MissingURL returns the connection string of a database that does not
// exist on the test server, for tests of what creates databases or refuses
// to; it is dropped when the test ends, in case something created it.
func MissingURL(t testing.TB) string {
	t.Helper()
	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		raw = DefaultURL
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, raw)
	require.NoError(t, err)
	name := "easel_missing_" + strings.ToLower(rand.Text())
	t.Cleanup(func() {
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close(ctx)
	})
	u, err := url.Parse(raw)
	require.NoError(t, err, "parse TEST_DATABASE_URL")
	u.Path = "/" + name
	return u.String()
}
