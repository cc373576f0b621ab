package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// A DATABASE_URL with pgxpool's pool_* parameters, which a service's pool
// takes, works for easel migrate and easel keys too.
func TestMigrateAcceptsPoolParameters(t *testing.T) {
	t.Parallel()

	const pool = "&pool_max_conns=4&pool_max_conn_lifetime=1h"
	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		args       []string
		url        func(t *testing.T) string
		wantStdout string
	}{
		{args: []string{"migrate", "version"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest, latest)},
		{args: []string{"migrate", "up"}, url: func(t *testing.T) string { return dbtest.MissingURL(t) }, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest, latest)},
		{args: []string{"migrate", "down"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: fmt.Sprintf("schema version %d of %d\n", latest-1, latest)},
		{args: []string{"keys", "create", "shop"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: `Created API key "shop".`},
		{args: []string{"keys", "list"}, url: func(t *testing.T) string { return dbtest.URL(t) }, wantStdout: "no API keys"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()

			env := map[string]string{"DATABASE_URL": tt.url(t) + pool}
			code, stdout, stderr := easel(t, context.Background(), env, tt.args...)
			require.Zero(t, code, stderr)
			require.Contains(t, stdout, tt.wantStdout)
		})
	}
}
