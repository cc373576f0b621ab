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

	mu      sync.Mutex
	last    string // the last state line printed, to print each change once
	lastFal string // the last line of fal's status printed, likewise
	status  string
	frame   int

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

// update prints g's state if it changed since the last call, and then
// fal's status of its request if that changed: minutes may pass at fal
// between submitted and completed.
func (p *progress) update(g *generation) {
	line, fal := stateLine(g), falLine(g)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = g.Status
	elapsed := formatElapsed(time.Since(p.start))
	if line != p.last {
		p.last = line
		p.printLocked(fmt.Sprintf("%8s  %s", elapsed, line))
	}
	if fal != p.lastFal {
		// A status gone (another request, or the generation left
		// submitted) prints nothing, but the same status coming back is
		// news again.
		p.lastFal = fal
		if fal != "" {
			p.printLocked(fmt.Sprintf("%8s  %s", elapsed, fal))
		}
	}
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
		return line + polledNote(g)
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
			return strings.Join(parts, ": ") + polledNote(g)
		}
	}
	return g.Status + polledNote(g)
}

// polledNote says why a result came late when it did: Easel polls fal only
// EASEL_POLL_AFTER after the submission when no webhook brought it.
func polledNote(g *generation) string {
	if g.ResultSource != nil && *g.ResultSource == "poll" {
		return "; result fetched by polling: no webhook in time"
	}
	return ""
}

// falLine describes what fal last said of a submitted generation's request,
// as the server recorded it; "" when it has recorded nothing, which older
// servers, and newer ones before they ask fal, answer with null.
func falLine(g *generation) string {
	if g.Status != "submitted" || g.FalStatus == nil || *g.FalStatus == "" {
		return ""
	}
	line := "at fal: " + *g.FalStatus
	switch {
	case g.FalQueuePosition == nil:
	case *g.FalQueuePosition == 0:
		line += ", next to run"
	default:
		line += fmt.Sprintf(", %d ahead", *g.FalQueuePosition)
	}
	return line
}

func formatElapsed(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
