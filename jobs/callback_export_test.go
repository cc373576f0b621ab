package jobs

import "context"

// AbandonOrphans runs the dispatcher's sweep for orphaned deliveries once.
func (d *CallbackDispatcher) AbandonOrphans(ctx context.Context) (int, error) {
	return d.abandonOrphans(ctx)
}
