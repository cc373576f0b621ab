package jobs

// WebhookURL exposes webhookURL to jobs_test, so that a test can deliver
// a webhook where fal would.
var WebhookURL = webhookURL
