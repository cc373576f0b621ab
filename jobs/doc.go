// Package jobs holds Easel's River jobs and the enqueue call other Go
// services use.
//
// A generation is enqueued by inserting its row and a SubmitGeneration job in
// one transaction (Enqueue), so a generation exists exactly when its job
// does. The SubmitGeneration worker hands the stored input to fal with a
// webhook URL that names the generation; the webhooks package finishes it.
package jobs
