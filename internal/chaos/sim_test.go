package chaos

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

// statsPollInterval is how often the test reads the simulator's counters
// while it awaits a number of submissions: the simulator cannot push them.
// At the short run's pace (about 25 submissions a second) it sets each
// disruption off within a couple of submissions of its mark.
const statsPollInterval = 50 * time.Millisecond

// simulator is a running `easel sim`.
type simulator struct {
	url  string // base URL
	http *http.Client
}

// startSim runs `easel sim` on a free port.
func startSim(t *testing.T, dir, bin string, flags []string) *simulator {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, "sim.log"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, append([]string{"sim", "--addr", "127.0.0.1:0"}, flags...)...)
	cmd.Env, cmd.Stderr = baseEnv(), log
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		_ = log.Close()
	})

	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		fmt.Fprintln(log, lines.Text())
		if _, url, ok := strings.Cut(lines.Text(), "fal simulator listening on "); ok {
			go func() { _, _ = io.Copy(log, stdout) }()
			return &simulator{url: strings.TrimSpace(url), http: &http.Client{Timeout: 5 * time.Second}}
		}
	}
	t.Fatalf("easel sim printed no address; log:\n%s", tail(log.Name(), 20))
	return nil
}

// stats returns the simulator's counters.
func (s *simulator) stats(ctx context.Context) (falsim.Stats, error) {
	var st falsim.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/_sim/stats", nil)
	if err != nil {
		return st, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return st, fmt.Errorf("get simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("get simulator stats: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("decode simulator stats: %w", err)
	}
	return st, nil
}

// awaitSubmissions waits until fal has accepted at least n submissions.
func (s *simulator) awaitSubmissions(ctx context.Context, n int) error {
	ticker := time.NewTicker(statsPollInterval)
	defer ticker.Stop()
	var (
		seen    int
		lastErr error
	)
	for {
		st, err := s.stats(ctx)
		if err == nil {
			if st.Submissions >= n {
				return nil
			}
			seen = st.Submissions
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("await %d submissions at fal, %d seen (last error: %v): %w", n, seen, lastErr, ctx.Err())
		case <-ticker.C:
		}
	}
}
