package falsim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Latency is a uniform distribution of run times over [Min, Max]. The zero
// value means instant. *Latency is a flag.Value accepting "1s" (fixed) or
// "200ms..2s" (uniform).
type Latency struct {
	Min, Max time.Duration
}

// String formats l the way Set parses it.
func (l Latency) String() string {
	if l.Min == l.Max {
		return l.Min.String()
	}
	return l.Min.String() + ".." + l.Max.String()
}

// Set parses "D" or "MIN..MAX", both durations in time.ParseDuration syntax.
func (l *Latency) Set(s string) error {
	parsed, err := parseLatency(s)
	if err != nil {
		return err
	}
	*l = parsed
	return nil
}

func parseLatency(s string) (Latency, error) {
	lo, hi, isRange := strings.Cut(strings.TrimSpace(s), "..")
	lo, hi = strings.TrimSpace(lo), strings.TrimSpace(hi)
	if !isRange {
		hi = lo
	}
	minimum, err := time.ParseDuration(lo)
	if err != nil {
		return Latency{}, fmt.Errorf("parse latency %q: %w", s, err)
	}
	maximum, err := time.ParseDuration(hi)
	if err != nil {
		return Latency{}, fmt.Errorf("parse latency %q: %w", s, err)
	}
	l := Latency{Min: minimum, Max: maximum}
	if err := l.validate(); err != nil {
		return Latency{}, fmt.Errorf("parse latency %q: %w", s, err)
	}
	return l, nil
}

func (l Latency) validate() error {
	if l.Min < 0 {
		return errors.New("minimum is negative")
	}
	if l.Max < l.Min {
		return errors.New("maximum is below minimum")
	}
	return nil
}

func (l Latency) draw(r *rand.Rand) time.Duration {
	if l.Max <= l.Min {
		return l.Min
	}
	return l.Min + time.Duration(r.Int64N(int64(l.Max-l.Min)))
}
