// Package chaos holds Easel's chaos test: real `easel serve` processes
// (the built binary, three of them with mixed roles) on one database,
// against `easel sim` injecting faults, while worker processes are killed
// with SIGKILL and restarted, the webhook receiver goes down and, in the
// full run, Postgres restarts. These disruptions are set off by the number
// of submissions fal has accepted rather than by the clock, and each
// happens in full, so that a slow or a fast machine runs the same chaos.
//
// It checks the guarantees of docs/RELIABILITY.md: every accepted request
// ends in a terminal state, a completed generation has exactly its images,
// fal never runs more than FAL_MAX_INFLIGHT requests, and every submission
// paid beyond the first is one whose answer was lost to a kill.
//
// `go test ./internal/chaos` runs a short version (part of `make test`);
// `make chaos` runs the full one:
//
//	go test ./internal/chaos -run TestChaos -count=1 -v -timeout 30m -args -chaos.full
//
// The full run restarts the Postgres cluster (pg_ctlcluster 15 main), which
// every other user of that server notices.
package chaos
