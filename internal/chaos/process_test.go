package chaos

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildEasel builds cmd/easel into dir.
func buildEasel(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "easel")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/easelhq/easel/cmd/easel").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// baseEnv is the environment every child gets: enough to run, nothing of
// the test's own (no DATABASE_URL or FAL_KEY leaking in).
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name == "PATH" || name == "HOME" || name == "TMPDIR" {
			env = append(env, kv)
		}
	}
	return env
}

// crashRestartDelay is the pause before a crashed process is restarted,
// as systemd's RestartSec would make it: a process that cannot start (the
// database is restarting) is not respawned in a tight loop. Kills restart
// at once, and no assertion depends on it.
const crashRestartDelay = time.Second

// readyPollInterval is how often ready probes /readyz.
const readyPollInterval = 100 * time.Millisecond

// process is one `easel` child, restarted whenever it exits until stop:
// at once after a kill, after crashRestartDelay after a crash.
type process struct {
	name string
	addr string // listen address of serve processes
	args []string
	env  []string
	log  *os.File

	mu            sync.Mutex
	current       *exec.Cmd
	killRequested bool
	stopping      bool
	kills         int
	crashes       []string
	done          chan struct{}
}

func startProcess(t *testing.T, dir, bin, name string, args, env []string) *process {
	t.Helper()
	log, err := os.Create(filepath.Join(dir, name+".log"))
	require.NoError(t, err)
	p := &process{name: name, args: append([]string{bin}, args...), env: append(baseEnv(), env...), log: log, done: make(chan struct{})}
	started := make(chan error, 1)
	go p.supervise(started)
	require.NoError(t, <-started, "start %s", name)
	t.Cleanup(func() {
		p.stop()
		_ = log.Close()
		if t.Failed() {
			t.Logf("last lines of %s:\n%s", log.Name(), tail(log.Name(), 30))
		}
	})
	return p
}

func (p *process) supervise(started chan<- error) {
	defer close(p.done)
	first := true
	for {
		cmd := exec.Command(p.args[0], p.args[1:]...)
		cmd.Env, cmd.Stdout, cmd.Stderr = p.env, p.log, p.log
		p.mu.Lock()
		if p.stopping {
			p.mu.Unlock()
			return
		}
		err := cmd.Start()
		if err == nil {
			p.current = cmd
		}
		p.mu.Unlock()
		if first {
			started <- err
			first = false
		}
		if err != nil {
			return
		}

		err = cmd.Wait()
		p.mu.Lock()
		stopping, killed := p.stopping, p.killRequested
		p.killRequested, p.current = false, nil
		if !stopping && !killed {
			// Its last line says why (easel prints a fatal error last), so
			// that the report explains every exit.
			p.crashes = append(p.crashes, fmt.Sprintf("%s exited: %v: %s", p.name, err, tail(p.log.Name(), 1)))
		}
		p.mu.Unlock()
		if stopping {
			return
		}
		if !killed {
			time.Sleep(crashRestartDelay)
		}
	}
}

// kill sends SIGKILL; the supervisor restarts the process at once. It
// reports whether a running process was killed.
func (p *process) kill() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.current == nil || p.killRequested {
		return false
	}
	if err := p.current.Process.Kill(); err != nil {
		return false
	}
	p.killRequested = true
	p.kills++
	return true
}

// stop ends the process with SIGTERM, then SIGKILL after 20 seconds.
func (p *process) stop() {
	p.mu.Lock()
	p.stopping = true
	if p.current != nil {
		_ = p.current.Process.Signal(syscall.SIGTERM)
	}
	p.mu.Unlock()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.mu.Lock()
		if p.current != nil {
			_ = p.current.Process.Kill()
		}
		p.mu.Unlock()
		<-p.done
	}
}

func (p *process) counts() (kills int, crashes []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kills, append([]string(nil), p.crashes...)
}

// awaitReady waits until a serve process is ready.
func (p *process) awaitReady(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.ready(ctx), "log:\n%s", tail(p.log.Name(), 20))
}

// ready waits until a serve process answers /readyz: its HTTP server is
// up, which `easel serve` starts only once River runs, and so is its
// database. The process cannot tell the test; polling it is the only way.
func (p *process) ready(ctx context.Context) error {
	client := &http.Client{Timeout: 2 * time.Second}
	ticker := time.NewTicker(readyPollInterval)
	defer ticker.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.addr+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", p.name, err)
		}
		if resp, err := client.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s never became ready: %w", p.name, ctx.Err())
		case <-ticker.C:
		}
	}
}

// killWhenReady waits until the process is ready, so that the kill hits a
// process running workers rather than one still starting, then SIGKILLs it.
func (p *process) killWhenReady(ctx context.Context) error {
	for {
		if err := p.ready(ctx); err != nil {
			return err
		}
		if p.kill() {
			return nil
		}
		// It exited between answering and the kill: await its successor.
	}
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
