package keyscli_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/internal/dbtest"
	"github.com/easelhq/easel/internal/keyscli"
)

// unreachableDB fails any connection: commands that must not touch the
// database are run against it.
const unreachableDB = "postgres://nouser@127.0.0.1:1/easel_keyscli_test?sslmode=disable&connect_timeout=2"

const testCallbackSecret = "whsec_dGVzdC1rZXktb2YtZWFzZWwtY2FsbGJhY2tzLTMyYg=="

// Refusals come before the database is read: each names what to change,
// and none prints anything.
func TestRunRefusesBeforeTouchingTheDatabase(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name, command, key, secret string
		wantErr                    string
		usage                      bool
	}{
		{name: "unknown command", command: "rotate", key: "billing", wantErr: `unknown keys command "rotate"`, usage: true},
		{name: "callback-secret, empty name", command: "callback-secret", secret: testCallbackSecret, wantErr: "NAME is empty", usage: true},
		{name: "callback-secret, unset secret", command: "callback-secret", key: "billing", wantErr: "EASEL_CALLBACK_SECRET is unset", usage: true},
		{name: "create, bad secret", command: "create", key: "billing", secret: "whsec_c2hvcnQ=", wantErr: "EASEL_CALLBACK_SECRET: ", usage: true},
		{name: "create, empty name", command: "create", wantErr: "keys create NAME: NAME is empty", usage: true},
		{name: "create, bad name", command: "create", key: "bad name", wantErr: `keys create NAME: API key name "bad name" may hold only letters`, usage: true},
		{name: "create, reserved name", command: "create", key: "anonymous", wantErr: `API key name "anonymous" is reserved`, usage: true},
		{name: "revoke, empty name", command: "revoke", wantErr: "keys revoke NAME: NAME is empty", usage: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			err := keyscli.Run(context.Background(), tt.command, tt.key, keyscli.Env{Stdout: &stdout, Stderr: &stderr, DatabaseURL: unreachableDB,
				CallbackSecret: tt.secret, Logger: slog.New(slog.DiscardHandler)})
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, tt.usage, errors.Is(err, keyscli.ErrUsage))
			require.NotRegexp(t, `^usage`, err.Error(), "the caller prefixes it")
			require.NotContains(t, err.Error(), "c2hvcnQ", "errors never quote a secret")
			require.Empty(t, stdout.String())
			require.Empty(t, stderr.String())
		})
	}
}

// create prints the key alone on stdout and, on stderr, a request to
// BaseURL; list then shows it and revoke revokes it, once.
func TestRunCreateListRevoke(t *testing.T) {
	t.Parallel()

	ctx := context.Background()
	env := keyscli.Env{DatabaseURL: dbtest.URL(t), BaseURL: "http://127.0.0.1:18093", Logger: slog.New(slog.DiscardHandler)}
	run := func(command, name string) (stdout, stderr string, err error) {
		var out, errOut bytes.Buffer
		env := env
		env.Stdout, env.Stderr = &out, &errOut
		err = keyscli.Run(ctx, command, name, env)
		return out.String(), errOut.String(), err
	}

	out, _, err := run("list", "")
	require.NoError(t, err)
	require.Empty(t, out, "no keys: stdout stays empty")

	out, errOut, err := run("create", "billing")
	require.NoError(t, err)
	require.Regexp(t, `^easel_[a-z2-7]{40}\n$`, out)
	require.Contains(t, errOut, " http://127.0.0.1:18093/v1/generations/<id>\n")
	_, _, err = run("create", "billing")
	require.ErrorContains(t, err, `an active API key is already named "billing"`)

	out, _, err = run("list", "")
	require.NoError(t, err)
	require.Contains(t, out, "billing")

	out, _, err = run("revoke", "billing")
	require.NoError(t, err)
	require.Contains(t, out, `revoked API key "billing"`)
	_, _, err = run("revoke", "billing")
	require.ErrorContains(t, err, `no active API key is named "billing"`)
}
