// Package falsim is a protocol-faithful simulator of fal.ai's queue API and
// webhook delivery, for the endpoint fal-ai/fooocus/image-prompt (any endpoint
// id is accepted). It is the only stand-in for fal in Easel's test suite: tests
// run it in-process, `easel serve` runs it when FAL_KEY is unset, and
// `easel sim` serves it on its own.
//
// One Handler serves every route:
//
//	POST /{owner}/{app}[/{path...}]?fal_webhook=URL&fal_max_queue_length=N   submit
//	GET  /{owner}/{app}/requests/{id}/status[?logs=1]                        status (202 / 200)
//	GET  /{owner}/{app}/requests/{id}/status/stream[?logs=1]                 status as server-sent events
//	GET  /{owner}/{app}/requests/{id}[/response]                             result, with x-fal-request-id
//	PUT  /{owner}/{app}/requests/{id}/cancel                                 202 / 400 / 404
//	GET  /.well-known/jwks.json                                              the webhook signing key
//	GET  /files/{W}x{H}/{variant}/{name}.{png,jpeg,webp}                     generated images
//	GET  /_sim/stats                                                         counters (see Stats)
//
// Status, result and cancel accept the owner/app form that fal returns as well
// as the full endpoint id. Queue API routes require `Authorization: Key ...`
// (any non-empty key). URLs in responses and outputs are built from the Host
// the client used, so they work on an ephemeral port and behind a fixed address.
// Image URLs are built on Config.FilesURL instead when it is set; FilesHandler
// serves the files on another server, as `easel serve` does on its own
// listener so that stored URLs outlive the simulator's port.
//
// # Images
//
// Images are gradients, or black where the safety checker blanks an NSFW
// one, in the input's output_format: jpeg (fal's default), png or webp, with
// the matching content_type and file name extension. A webp image is lossless
// and of one colour, the gradient's middle, which keeps the simulator's own
// encoder to a few dozen lines and its files to a few dozen bytes.
// Everything that shapes a file is in its path, so files are rendered on
// demand, identically by any Sim, before or after a restart.
//
// The output's has_nsfw_concepts flags each image, true at Config.NSFWRate.
// At Config.NSFWUnknownRate it flags none that a receiver can read: it is
// missing, null, one entry short of the images or a list of strings, the
// shape drawn per submission, while the images stay as the flags would
// have said, blanked or not. Easel records such flags as unknown.
//
// # Lifecycle
//
// A submitted request waits IN_QUEUE until a concurrency slot is free
// (Config.MaxConcurrency, per account as on fal; queued requests are never
// rejected), runs IN_PROGRESS for a run time drawn from Config.Latency and ends
// COMPLETED, either with the model output or with an error. A bounced request
// (Config.BounceRate) loses its runner halfway, goes back to the head of the
// queue with a new gateway_request_id, waits half its run time and runs again.
// Cancelling a queued or running request ends it at once as COMPLETED with
// error_type client_cancelled (HTTP 499 on the result) and sends no webhook;
// fal does not document either, so Easel must not rely on one.
//
// A finished request is kept for Config.Retention (one hour by default)
// after it completed and its webhook deliveries ended, then forgotten: its
// status, result and cancel answer 404 {"status": "NOT_FOUND"}, as fal does
// for an id it does not know. Its image files are served regardless.
//
// Validation happens at completion, as on fal: an input without image_prompt_1,
// with num_images outside 1..4 or with an output_format other than png, jpeg
// and webp completes with a 422 {"detail": [...]} error.
//
// # Webhooks
//
// On completion a request with fal_webhook gets one signed POST: body like
// fal's (sorted keys, Python separators, "error": null when OK), headers
// X-Fal-Webhook-Request-Id, -User-Id, -Timestamp and -Signature, a fresh
// timestamp and signature on every attempt. Deliveries that time out
// (Config.WebhookTimeout), fail to connect or get a non-2xx answer are retried
// Config.WebhookRetries times on a schedule like fal's: 10s, 30s, 1m, 2m, 5m,
// 10m, 15m, 20m, 30m and 40m after the previous attempt, about 2 hours in all.
//
// # Time scale
//
// Config.TimeScale divides only that retry schedule, the one duration fal
// fixes rather than the user: TimeScale 3600 replays the 2-hour schedule in
// about 2 seconds. Durations set explicitly (Latency, WebhookDelay,
// WebhookTimeout) are used as given.
//
// # Determinism
//
// The n-th submission draws its faults and run time from a generator seeded
// with (Config.Seed, n), so two simulators with the same Config that receive
// the same submissions in the same order make the same choices. Request ids
// are random UUIDs regardless of the seed, so restarting a simulator never
// reuses an id. The Ed25519 signing key is derived from the seed, so the JWKS
// stays the same across restarts with the same seed.
package falsim
