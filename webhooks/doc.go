// Package webhooks receives fal's completion webhooks.
//
// Every delivery that names an existing generation is stored in
// webhook_events, whether or not its signature held, in the same
// transaction that applies it, so the history explains every state change.
// Results are decided by jobs.DecideResult, the code the reconciler uses
// for polled results too. A generation in a terminal state never changes
// again: a repeated delivery is stored with outcome "duplicate", a result
// for a generation that finished without one of fal's results (cancelled,
// timed out, or failed by Easel) with outcome "late", and both are
// answered 200 so fal stops retrying. A result that finishes a generation
// recording another request (an earlier submission's, whose answer was
// lost) makes its own request the generation's, and the other is queued to
// be cancelled at fal (store.TakeResultRequest).
//
// A valid signature proves that fal sent the body, not that it was sent to
// this URL: fal signs every account's webhooks with the same keys and the
// signature does not cover the URL. A signed delivery is therefore applied
// only when its body reports on the request the signature names and that
// request may be the generation's (store.WebhookTarget.RequestMatches);
// otherwise it is stored with outcome "mismatched_request", changes nothing
// and is answered 200. A request a webhook names before any submit
// recorded fal's answer is adopted by the submit worker only once fal,
// asked with Easel's key, knows it.
//
// Growth is bounded: at most store.MaxWebhookEventsPerGeneration events
// are kept per generation, unsigned and signed deliveries capped apart so
// that forgeries cannot crowd out what fal signed (store.InsertWebhookEvent),
// a signed delivery for a generation that does not exist is
// kept (first 4 KiB, outcome "unknown_generation", answered 200 so that fal
// stops retrying) at most store.MaxWebhookEvents times per fal request, and
// an unsigned one for such a generation is not kept at all. One for a
// generation that was deleted (deleted_fal_requests) is kept without its
// body, outcome "deleted_generation": the body would bring back the
// personal data the deletion removed. What is kept,
// and logged, of a delivery's headers is cut (keptHeaders, boundedHeader),
// since they are the sender's until the signature verifies.
package webhooks
