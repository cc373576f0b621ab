// Package webhooks receives fal's completion webhooks.
//
// Every delivery that names an existing generation is stored in
// webhook_events, whether or not its signature held, in the same
// transaction that applies it, so the history explains every state change.
// A generation in a terminal state never changes again: duplicate and late
// deliveries are stored with outcome "duplicate" and answered 200 so fal
// stops retrying.
package webhooks
