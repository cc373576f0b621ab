package main

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// docker-compose.yml's Postgres is healthy only once it accepts TCP
// connections, as Easel makes them: on a fresh volume the image's
// temporary init server answers on its Unix socket alone, and stops.
func TestComposePostgresHealthcheckUsesTCP(t *testing.T) {
	t.Parallel()

	compose, err := os.ReadFile("../../docker-compose.yml")
	require.NoError(t, err)
	checks := regexp.MustCompile(`(?m)^\s*test: \[.*\bpg_isready\b(.*)\]$`).FindAllStringSubmatch(string(compose), -1)
	require.Len(t, checks, 1, "the postgres service's healthcheck")
	require.Regexp(t, `\s-h 127\.0\.0\.1\s`, checks[0][1])
}
