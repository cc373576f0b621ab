package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/migrations"
)

// database states the keys commands meet, each returning a database URL.
var (
	missingDB = func(t *testing.T) string { return dbtest.MissingURL(t) }
	emptyDB   = func(t *testing.T) string {
		t.Helper()
		url := missingDB(t)
		_, err := migrations.EnsureDatabase(context.Background(), url)
		require.NoError(t, err)
		return url
	}
	currentDB = func(t *testing.T) string { t.Helper(); return dbtest.URL(t) }
	olderDB   = func(t *testing.T) string {
		t.Helper()
		url := dbtest.URL(t)
		require.NoError(t, migrations.Down(context.Background(), url, nil, 1))
		return url
	}
	newerDB = func(t *testing.T) string {
		t.Helper()
		url := dbtest.URL(t)
		latest, err := migrations.Latest()
		require.NoError(t, err)
		conn, err := pgx.Connect(context.Background(), url)
		require.NoError(t, err)
		defer conn.Close(context.Background())
		_, err = conn.Exec(context.Background(), `UPDATE schema_migrations SET version = $1`, latest+1)
		require.NoError(t, err)
		return url
	}
)

func TestKeysNeverCreateTheDatabaseAndMigrateOnlyAFreshOneOnCreate(t *testing.T) {
	t.Parallel()

	latest, err := migrations.Latest()
	require.NoError(t, err)

	tests := []struct {
		name       string
		db         func(t *testing.T) string
		args       []string
		wantErr    string // empty: succeeds
		wantStdout string // a regular expression
		wantStderr string
		migrates   bool // from no schema to the latest
	}{
		{name: "list, missing database", db: missingDB, args: []string{"list"}, wantErr: "does not exist: check DATABASE_URL, or create and migrate it first with easel migrate up (or easel serve)"},
		{name: "revoke, missing database", db: missingDB, args: []string{"revoke", "billing"}, wantErr: "does not exist"},
		{name: "create, missing database", db: missingDB, args: []string{"create", "billing"}, wantErr: "does not exist"},
		{name: "list, no schema", db: emptyDB, args: []string{"list"}, wantErr: "has no Easel schema: check DATABASE_URL, or migrate it first with easel migrate up (or easel serve)"},
		{name: "revoke, no schema", db: emptyDB, args: []string{"revoke", "billing"}, wantErr: "has no Easel schema"},
		{name: "create, no schema: a fresh install", db: emptyDB, args: []string{"create", "billing"}, wantStdout: createdKey, wantStderr: `Created API key "billing"`, migrates: true},
		{name: "list, older schema", db: olderDB, args: []string{"list"}, wantErr: "older than this binary's"},
		{name: "revoke, older schema", db: olderDB, args: []string{"revoke", "billing"}, wantErr: "older than this binary's"},
		{name: "create, older schema", db: olderDB, args: []string{"create", "billing"}, wantErr: "run easel migrate up first"},
		{name: "list, newer schema", db: newerDB, args: []string{"list"}, wantErr: migrations.ErrSchemaNewer.Error()},
		{name: "create, newer schema", db: newerDB, args: []string{"create", "billing"}, wantErr: migrations.ErrSchemaNewer.Error()},
		{name: "list, current schema", db: currentDB, args: []string{"list"}, wantStdout: `^$`, wantStderr: "no API keys; create one with easel keys create NAME\n"},
		{name: "create, current schema", db: currentDB, args: []string{"create", "billing"}, wantStdout: createdKey, wantStderr: `Created API key "billing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			ctx := context.Background()
			url := tt.db(t)
			name, err := migrations.DatabaseName(url)
			require.NoError(t, err)
			versionBefore, _, errBefore := migrations.CurrentVersion(ctx, url)

			var stdout, stderr bytes.Buffer
			var logs syncBuffer
			getenv := func(k string) string {
				if k == "DATABASE_URL" {
					return url
				}
				return ""
			}
			logger := func() (*slog.Logger, error) { return slog.New(slog.NewTextHandler(&logs, nil)), nil }
			err = keysCmd(ctx, append([]string(nil), tt.args...), &stdout, &stderr, getenv, logger)

			versionAfter, _, errAfter := migrations.CurrentVersion(ctx, url)
			if errBefore != nil {
				require.ErrorIs(t, errBefore, migrations.ErrNoDatabase)
				require.ErrorIs(t, errAfter, migrations.ErrNoDatabase, "the database must not be created")
			} else {
				require.NoError(t, errAfter)
			}
			if tt.wantErr != "" {
				require.Error(t, err)
				require.ErrorContains(t, err, `database "`+name+`"`)
				require.ErrorContains(t, err, tt.wantErr)
				require.Equal(t, 1, exitCode(err, &bytes.Buffer{}))
			} else {
				require.NoError(t, err)
				require.Regexp(t, tt.wantStdout, stdout.String())
				require.Contains(t, stderr.String(), tt.wantStderr)
			}
			if tt.migrates {
				require.Zero(t, versionBefore)
				require.Equal(t, latest, versionAfter)
				require.Contains(t, logs.String(), "database has no Easel schema yet; migrating it")
				require.Contains(t, logs.String(), name)
			} else {
				require.Equal(t, versionBefore, versionAfter, "the schema must not change")
				require.NotContains(t, logs.String(), "migrat")
			}
		})
	}
}

func TestKeysCreateListRevoke(t *testing.T) {
	t.Parallel()

	url := dbtest.URL(t)
	env := map[string]string{"DATABASE_URL": url, "EASEL_ADDR": "127.0.0.1:18093"}
	ctx := context.Background()

	// The key alone on stdout, for KEY=$(easel keys create NAME); the rest,
	// which shows no key, on stderr.
	code, stdout, stderr := easel(t, ctx, env, "keys", "create", "billing")
	require.Zero(t, code, stderr)
	require.Regexp(t, createdKey, stdout)
	key := strings.TrimSuffix(stdout, "\n")
	require.Contains(t, stderr, `Created API key "billing", printed on stdout.`)
	require.Contains(t, stderr, " http://127.0.0.1:18093/v1/generations/<id>\n", "the example curl reaches the configured address")
	require.NotContains(t, stderr, key)

	code, stdout, stderr = easel(t, ctx, env, "keys", "list")
	require.Zero(t, code, stderr)
	require.Regexp(t, `(?m)^billing +`+regexp.QuoteMeta(key[:len("easel_")+8])+`\.\.\. `, stdout, "the prefix ends in ASCII")
	require.NotContains(t, stdout, "…")
	require.Empty(t, stderr)

	code, stdout, stderr = easel(t, ctx, env, "keys", "revoke", "billing")
	require.Zero(t, code, stderr)
	require.Contains(t, stdout, `revoked API key "billing" (`+key[:len("easel_")+8]+`...)`)

	code, _, stderr = easel(t, ctx, env, "keys", "revoke", "billing")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, `no active API key is named "billing"`)
}

// createdKey is what keys create prints on stdout: the key, alone.
const createdKey = `^easel_[a-z2-7]{40}\n$`

// A NAME keys create would refuse is refused before the database is read,
// as a usage error: a fresh database is not migrated for it.
func TestKeysCreateRefusesNameFirst(t *testing.T) {
	t.Parallel()

	for _, name := range []string{"", "bad name", "anonymous", strings.Repeat("n", 101)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := emptyDB(t)
			code, stdout, stderr := easel(t, context.Background(), map[string]string{"DATABASE_URL": url}, "keys", "create", name)
			require.Equal(t, 2, code, stderr)
			require.Empty(t, stdout)
			require.True(t, strings.HasPrefix(stderr, "easel: keys create NAME: "), stderr)
			version, _, err := migrations.CurrentVersion(context.Background(), url)
			require.NoError(t, err)
			require.Zero(t, version, "not migrated")
		})
	}
}

// The example curl of keys create uses the address easel serve is reached
// at with the same environment; a variable that makes none is refused,
// naming it.
func TestAPIBaseURL(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{name: "defaults", env: map[string]string{}, want: "http://127.0.0.1:8080"},
		{name: "EASEL_ADDR", env: map[string]string{"EASEL_ADDR": "127.0.0.1:18093"}, want: "http://127.0.0.1:18093"},
		{name: "EASEL_ADDR on every IPv4 interface", env: map[string]string{"EASEL_ADDR": "0.0.0.0:18093"}, want: "http://127.0.0.1:18093"},
		{name: "EASEL_ADDR on every interface", env: map[string]string{"EASEL_ADDR": "[::]:18093"}, want: "http://127.0.0.1:18093"},
		{name: "EASEL_ADDR without a host", env: map[string]string{"EASEL_ADDR": ":18093"}, want: "http://127.0.0.1:18093"},
		{name: "EASEL_ADDR named host", env: map[string]string{"EASEL_ADDR": "easel.internal:80"}, want: "http://easel.internal:80"},
		{name: "EASEL_ADDR named port", env: map[string]string{"EASEL_ADDR": "easel.internal:http"}, want: "http://easel.internal:80"},
		{name: "EASEL_ADDR IPv6", env: map[string]string{"EASEL_ADDR": "[::1]:18093"}, want: "http://[::1]:18093"},
		{name: "EASEL_ADDR blank", env: map[string]string{"EASEL_ADDR": "  "}, want: "http://127.0.0.1:8080"},
		{
			name: "EASEL_PUBLIC_URL wins, without its trailing slash",
			env:  map[string]string{"EASEL_PUBLIC_URL": "https://easel.example.com/", "EASEL_ADDR": "0.0.0.0:18093"},
			want: "https://easel.example.com",
		},
		{name: "EASEL_ADDR not host:port", env: map[string]string{"EASEL_ADDR": "bogus"}, wantErr: `EASEL_ADDR: "bogus": not host:port`},
		{name: "EASEL_ADDR's port", env: map[string]string{"EASEL_ADDR": "127.0.0.1:99999"}, wantErr: `EASEL_ADDR: "127.0.0.1:99999": port "99999" is not a number`},
		{name: "EASEL_ADDR's host", env: map[string]string{"EASEL_ADDR": "a b:80"}, wantErr: `EASEL_ADDR: "a b:80": host "a b" is not a host name or IP address`},
		{
			name: "EASEL_PUBLIC_URL not a URL, EASEL_ADDR fine",
			env:  map[string]string{"EASEL_PUBLIC_URL": "nope", "EASEL_ADDR": "127.0.0.1:18093"}, wantErr: `EASEL_PUBLIC_URL: "nope" is not an http(s) URL`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := apiBaseURL(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				require.Equal(t, 2, exitCode(err, io.Discard), "a bad variable")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// syncBuffer is a bytes.Buffer that golang-migrate's goroutines may log to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	testCallbackSecret = "whsec_dGVzdC1rZXktb2YtZWFzZWwtY2FsbGJhY2tzLTMyYg=="
	// billingCallbackSecret is HMAC-SHA256(testCallbackSecret's key,
	// "easel-callback-v1\x00billing"), as docs/CALLBACKS.md derives it with openssl.
	billingCallbackSecret = "whsec_nkAPDIO2cj9HFEhPXwmhFSgvdnIb6H+6NmrMexXl+mg="
)

// callback-secret prints a client's secret alone, for a script, without a
// database; the secret is the current master's.
func TestKeysCallbackSecret(t *testing.T) {
	t.Parallel()
	const older = "whsec_c2VjcmV0LWtleS1vZi10aGlydHktdHdvLWJ5dGVzISE="
	for _, tt := range []struct {
		name       string
		secret     string
		args       []string
		wantCode   int
		wantStdout string
		wantErr    string
	}{
		{name: "one secret", secret: testCallbackSecret, args: []string{"billing"}, wantStdout: billingCallbackSecret + "\n"},
		{name: "rotating: the current one's", secret: testCallbackSecret + " " + older, args: []string{"billing"}, wantStdout: billingCallbackSecret + "\n"},
		{name: "unset", args: []string{"billing"}, wantCode: 2, wantErr: "EASEL_CALLBACK_SECRET is unset"},
		{name: "bad secret", secret: "whsec_c2hvcnQ=", args: []string{"billing"}, wantCode: 2, wantErr: "EASEL_CALLBACK_SECRET: callback secret must encode 24 to 64 bytes"},
		{name: "no name", secret: testCallbackSecret, wantCode: 2, wantErr: "easel: keys callback-secret NAME: missing NAME"},
		{name: "empty name", secret: testCallbackSecret, args: []string{""}, wantCode: 2, wantErr: "NAME is empty"},
		{name: "two names", secret: testCallbackSecret, args: []string{"a", "b"}, wantCode: 2, wantErr: `unexpected argument "b"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"DATABASE_URL": unreachableDB, "EASEL_CALLBACK_SECRET": tt.secret}
			code, stdout, stderr := easel(t, context.Background(), env, append([]string{"keys", "callback-secret"}, tt.args...)...)
			require.Equal(t, tt.wantCode, code, stderr)
			require.Equal(t, tt.wantStdout, stdout)
			require.Contains(t, stderr, tt.wantErr)
			if tt.secret != "" {
				require.NotContains(t, stderr, "c2hvcnQ", "errors never quote a secret")
			}
		})
	}
}

// keys create prints the new client's callback secret, on stderr with its
// label, when callbacks are signed, and refuses, creating nothing, when
// EASEL_CALLBACK_SECRET is bad; list and revoke do not read it.
func TestKeysCreatePrintsCallbackSecret(t *testing.T) {
	t.Parallel()
	url := dbtest.URL(t)
	ctx := context.Background()

	code, stdout, stderr := easel(t, ctx, map[string]string{"DATABASE_URL": url, "EASEL_CALLBACK_SECRET": "whsec_c2hvcnQ="}, "keys", "create", "billing")
	require.Equal(t, 2, code, "a bad variable")
	require.Contains(t, stderr, "EASEL_CALLBACK_SECRET: callback secret must encode 24 to 64 bytes")
	require.Empty(t, stdout)
	code, stdout, stderr = easel(t, ctx, map[string]string{"DATABASE_URL": url, "EASEL_CALLBACK_SECRET": "whsec_c2hvcnQ="}, "keys", "list")
	require.Zero(t, code, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "no API keys", "nothing was created")

	code, stdout, stderr = easel(t, ctx, map[string]string{"DATABASE_URL": url}, "keys", "create", "marketing")
	require.Zero(t, code, stderr)
	require.Regexp(t, createdKey, stdout)
	require.NotContains(t, stderr, "callback secret", "no secret, no callbacks")

	code, stdout, stderr = easel(t, ctx, map[string]string{"DATABASE_URL": url, "EASEL_CALLBACK_SECRET": testCallbackSecret}, "keys", "create", "billing")
	require.Zero(t, code, stderr)
	require.Regexp(t, createdKey, stdout, "the key alone: the secret is on stderr")
	require.Contains(t, stderr, "easel keys callback-secret billing")
	require.Contains(t, stderr, "\n    callback secret: "+billingCallbackSecret+"\n")
	require.NotContains(t, stderr, testCallbackSecret, "never the master secret")
}
