// Package jobs holds Easel's River jobs and the enqueue call other Go
// services use.
//
// A generation is enqueued by inserting its row and a SubmitGeneration job in
// one transaction (Enqueue, in the caller's; EnqueuePool, in one of its
// own), so a generation exists exactly when its job does. EnqueuePool also
// wakes the workers after its commit, so that no job of a burst waits for
// River's poll. Enqueue refuses, as the HTTP API does, invalid input and
// options (EnqueueOpts.Validate), writing nothing; only the HTTP API
// applies what depends on its own configuration: whether callbacks can be
// signed, and which addresses a callback URL may point at, which the
// deliveries check again on every connection. EnqueueOpts.MaxPending caps
// a client's unfinished generations, so that a flood of enqueues is
// refused (ErrTooManyPending) before it grows the database. The
// SubmitGeneration worker hands the stored input to fal with a webhook URL
// that names the generation; the webhooks package finishes it.
//
// Money is at stake in every submission, so the worker reserves one of
// FAL_MAX_INFLIGHT slots and counts the submission (fal_submissions) in one
// transaction before it calls fal, classifies fal's errors (retried by
// snoozing with backoff, or failing the generation), and on a retry first
// uses what is known: a webhook may have finished the generation, or named
// the request an earlier run never recorded.
//
// DecideResult decides fal's result however it arrives: the webhook
// receiver, the reconciler (a periodic job on the River leader that polls
// fal when webhooks are late and times out the hopeless) and the Canceller
// all use it; the last two also settle the results it defers.
// docs/RELIABILITY.md states the guarantees that follow.
package jobs
