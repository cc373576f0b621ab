package jobs

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal"
)

// A submit call ended by the job's context being cancelled, by the process
// stopping or the job's cancel, is explained as Easel's doing; anything
// else keeps classifySubmitError's message. Only the message and
// interruptedBy change: the code, and whether fal may have accepted it, do
// not.
func TestExplainInterruption(t *testing.T) {
	t.Parallel()
	// River's own cause is internal to it; its text is "stop initiated".
	stop := errors.New("stop initiated")
	post := func(err error) error {
		return fmt.Errorf("fal submit: %w", &url.Error{Op: "Post", URL: "https://queue.fal.run/x", Err: err})
	}
	cancelled := func(cause error) context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(cause)
		return ctx
	}
	expired, cancel := context.WithTimeout(context.Background(), -time.Second)
	t.Cleanup(cancel)

	tests := []struct {
		name       string
		ctx        context.Context
		err        error
		wantBy     string
		wantPrefix string // "": classifySubmitError's message
	}{
		{
			name: "process stopping, after sending", ctx: cancelled(stop), err: post(stop),
			wantBy:     interruptedByStop,
			wantPrefix: "Easel's process was stopping (a shutdown or deploy) and cut the submit call off, before fal answered (not a fault of fal's): fal may have accepted it, so it waits EASEL_POLL_AFTER",
		},
		{
			name: "process stopping, while connecting", ctx: cancelled(stop),
			err:        post(&net.OpError{Op: "dial", Net: "tcp", Err: stop}),
			wantBy:     interruptedByStop,
			wantPrefix: "Easel's process was stopping (a shutdown or deploy) and cut the submit call off, before fal answered (not a fault of fal's): nothing was sent to fal; it is submitted again",
		},
		{
			name: "stopping without a cause", ctx: cancelled(nil), err: post(context.Canceled),
			wantBy:     interruptedByStop,
			wantPrefix: "Easel's process was stopping",
		},
		{
			name: "job cancelled in River", ctx: cancelled(rivertype.ErrJobCancelledRemotely), err: post(rivertype.ErrJobCancelledRemotely),
			wantBy:     interruptedByCancel,
			wantPrefix: "its submit_generation job was cancelled in River while the call to fal was under way, before fal answered (not a fault of fal's): fal may have accepted it, and no job submits it again",
		},
		{name: "the job's timeout", ctx: expired, err: post(context.DeadlineExceeded)},
		{name: "fal answered as the process stopped", ctx: cancelled(stop), err: &fal.APIError{StatusCode: 503}},
		{name: "connection broken, nothing cancelled", ctx: context.Background(), err: post(errors.New("connection reset by peer"))},
	}
	for _, tt := range tests {
		classified := classifySubmitError(tt.err)
		got := explainInterruption(tt.ctx, tt.err, classified)
		require.Equal(t, tt.wantBy, got.interruptedBy, tt.name)
		if tt.wantPrefix == "" {
			require.Equal(t, classified, got, tt.name)
			continue
		}
		require.True(t, strings.HasPrefix(got.message, tt.wantPrefix), "%s: %s", tt.name, got.message)
		require.Contains(t, got.message, tt.err.Error(), tt.name)
		got.message, got.interruptedBy = classified.message, ""
		require.Equal(t, classified, got, tt.name+": only the explanation changes")
	}
}
