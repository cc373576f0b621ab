package enqueuecli

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// spinnerFrames turn once a second at spinnerInterval.
var spinnerFrames = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

const spinnerInterval = 100 * time.Millisecond

// progress reports a generation's state changes with the time elapsed since
// the command started. On a terminal it also keeps a spinner line, redrawn
// in place, below the printed changes.
type progress struct {
	w        io.Writer
	terminal bool
	start    time.Time

	mu     sync.Mutex
	last   string // the last state line printed, to print each change once
	status string
	frame  int

	stop chan struct{}
	done chan struct{}
}

func newProgress(w io.Writer, terminal bool, start time.Time) *progress {
	p := &progress{w: w, terminal: terminal, start: start, status: "enqueueing"}
	if terminal {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.spin()
	}
	return p
}

func (p *progress) spin() {
	defer close(p.done)
	ticker := time.NewTicker(spinnerInterval)
	defer ticker.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-ticker.C:
			p.mu.Lock()
			p.frame++
			p.drawSpinnerLocked()
			p.mu.Unlock()
		}
	}
}

// update prints g's state if it changed since the last call.
func (p *progress) update(g *generation) {
	line := stateLine(g)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = g.Status
	if line == p.last {
		return
	}
	p.last = line
	p.printLocked(fmt.Sprintf("%8s  %s", formatElapsed(time.Since(p.start)), line))
}

// note prints a message that is not a state change, such as a retried error.
func (p *progress) note(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.printLocked(fmt.Sprintf("%8s  %s", formatElapsed(time.Since(p.start)), msg))
}

func (p *progress) printLocked(line string) {
	if p.terminal {
		fmt.Fprint(p.w, "\r\x1b[K") // the spinner line gives way to the printed one
	}
	fmt.Fprintln(p.w, line)
	if p.terminal {
		p.drawSpinnerLocked()
	}
}

func (p *progress) drawSpinnerLocked() {
	fmt.Fprintf(p.w, "\r\x1b[K%s %s %s", spinnerFrames[p.frame%len(spinnerFrames)], p.status, formatElapsed(time.Since(p.start)))
}

// close stops the spinner and erases its line.
func (p *progress) close() {
	if !p.terminal {
		return
	}
	close(p.stop)
	<-p.done
	fmt.Fprint(p.w, "\r\x1b[K")
}

// stateLine describes a generation's state in a few words.
func stateLine(g *generation) string {
	switch g.Status {
	case "queued":
		if g.Error != nil {
			return fmt.Sprintf("queued (submit failed, retrying: %s)", g.Error.Code)
		}
	case "submitted":
		if g.FalRequestID != nil {
			return "submitted (fal request " + *g.FalRequestID + ")"
		}
	case "completed":
		nsfw, unknown := 0, 0
		for _, im := range g.Images {
			switch {
			case im.NSFW == nil:
				unknown++
			case *im.NSFW:
				nsfw++
			}
		}
		line := fmt.Sprintf("completed: %d image(s)", len(g.Images))
		if nsfw > 0 {
			line += fmt.Sprintf(", %d flagged NSFW", nsfw)
		}
		// An unknown flag is said, never counted as clean: fal sent none.
		if unknown > 0 {
			line += fmt.Sprintf(", %d NSFW unknown", unknown)
		}
		return line
	case "failed", "cancelled":
		if g.Error != nil {
			parts := []string{g.Status}
			// A cancelled generation's code is "cancelled": saying it twice
			// tells nothing.
			if g.Error.Code != "" && g.Error.Code != g.Status {
				parts = append(parts, g.Error.Code)
			}
			if g.Error.Message != "" {
				parts = append(parts, g.Error.Message)
			}
			return strings.Join(parts, ": ")
		}
	}
	return g.Status
}

func formatElapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
