// Package webhooks receives fal's completion webhooks.
//
// Every delivery that names an existing generation is stored in
// webhook_events, whether or not its signature held, in the same
// transaction that applies it, so the history explains every state change.
// Results are recorded by jobs.ApplyResult, the code the reconciler uses
// for polled results too. A generation in a terminal state never changes
// again: a repeated delivery is stored with outcome "duplicate", a result
// for a generation already cancelled or timed out with outcome "late", and
// both are answered 200 so fal stops retrying. At most
// store.MaxWebhookEvents events are kept per generation, and none for a
// generation that does not exist, so forged or replayed traffic cannot grow
// the table without bound.
package webhooks
