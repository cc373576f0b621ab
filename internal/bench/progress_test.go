package bench

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	lines := make(chan string, 10)
	stop := heartbeat(func(format string, args ...any) {
		select {
		case lines <- fmt.Sprintf(format, args...):
		default:
		}
	}, func(elapsed time.Duration) string {
		return fmt.Sprintf("still going after %s", elapsed.Round(time.Second))
	})
	select {
	case line := <-lines:
		require.Equal(t, "still going after 1s", line)
	case <-time.After(time.Minute): // only stops a broken test from hanging
		t.Fatal("no heartbeat")
	}
	stop() // returns once the reporting goroutine has ended
}

func TestCopyProgress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		produced int64
		want     string
	}{
		{name: "Sending", produced: 250, want: "history: generations: 250/1000 copied"},
		{name: "AllSent", produced: 1000, want: "history: generations: all 1000 sent, Postgres finishing the COPY (3s since it began)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var produced atomic.Int64
			produced.Store(tt.produced)
			require.Equal(t, tt.want, copyProgress("generations", 1000, &produced)(3*time.Second))
		})
	}
}
