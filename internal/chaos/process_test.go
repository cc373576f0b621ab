package chaos

import (
	"bufio"
	"context"
	"fmt"
	"io"
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

// process is one `easel` child, restarted whenever it exits until stop:
// at once after a kill, after a pause after a crash.
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
			p.crashes = append(p.crashes, fmt.Sprintf("%s exited: %v", p.name, err))
		}
		p.mu.Unlock()
		if stopping {
			return
		}
		if !killed {
			time.Sleep(time.Second) // a crashed process is restarted after a pause, as by systemd
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

// awaitReady waits until a serve process answers /readyz.
func (p *process) awaitReady(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 100*time.Millisecond, "%s never became ready; log:\n%s", p.name, tail(p.log.Name(), 20))
}

// startSim runs `easel sim` on a free port and returns its base URL.
func startSim(t *testing.T, dir, bin string, flags []string) string {
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
			return strings.TrimSpace(url)
		}
	}
	t.Fatalf("easel sim printed no address; log:\n%s", tail(log.Name(), 20))
	return ""
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
