package chaos

import (
	"context"
	"fmt"
	"os/exec"
	"time"
)

// The disruptions of a run are set off by its progress as fal sees it, not
// by the clock: each waits until the simulator has accepted a number of
// submissions, fewer than the run's generations, and then happens in full.
// Every generation is submitted at least once, so every run has all of
// them, while generations remain to be submitted, however fast the machine.

// killWorkers SIGKILLs the worker processes sc.kills times: kill n once fal
// has accepted n*sc.killEvery submissions. Every fourth kill hits all (API,
// webhooks and workers at once), the others worker.
func killWorkers(ctx context.Context, sim *simulator, sc scenario, worker, all *process) error {
	for n := 1; n <= sc.kills; n++ {
		victim := worker
		if n%4 == 0 {
			victim = all
		}
		if err := sim.awaitSubmissions(ctx, n*sc.killEvery); err != nil {
			return fmt.Errorf("kill %d of %d (%s): %w", n, sc.kills, victim.name, err)
		}
		if err := victim.killWhenReady(ctx); err != nil {
			return fmt.Errorf("kill %d of %d (%s): %w", n, sc.kills, victim.name, err)
		}
	}
	return nil
}

// receiverOutage takes the webhook receiver down once fal has accepted
// sc.receiverDownAfter submissions, until it has refused
// sc.receiverRefusals deliveries. It returns how long the receiver was
// down, for the report.
func receiverOutage(ctx context.Context, sim *simulator, sc scenario, proxy *receiverProxy) (time.Duration, error) {
	if err := sim.awaitSubmissions(ctx, sc.receiverDownAfter); err != nil {
		return 0, fmt.Errorf("receiver outage: %w", err)
	}
	start := time.Now()
	select {
	case <-proxy.outage(sc.receiverRefusals):
		return time.Since(start), nil
	case <-ctx.Done():
		proxy.endOutage()
		return time.Since(start), fmt.Errorf("receiver outage: %d of %d deliveries refused: %w",
			proxy.refusals(), sc.receiverRefusals, ctx.Err())
	}
}

// restartPostgres restarts the Postgres cluster once fal has accepted
// sc.restartPostgresAfter submissions. Every user of that server notices.
func restartPostgres(ctx context.Context, sim *simulator, sc scenario) error {
	if err := sim.awaitSubmissions(ctx, sc.restartPostgresAfter); err != nil {
		return fmt.Errorf("restart Postgres: %w", err)
	}
	// Not bound to ctx: killing pg_ctlcluster halfway could leave Postgres down.
	out, err := exec.Command("pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart").CombinedOutput()
	if err != nil {
		return fmt.Errorf("restart Postgres: %w: %s", err, out)
	}
	return nil
}
