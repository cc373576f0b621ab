package falsim

import (
	"flag"
	"time"
)

// RegisterFlags defines the `easel sim` flags on fs and returns the Config
// they fill in when fs is parsed. Unlike the zero Config, the defaults make a
// realistic account: a few seconds per generation, two at a time, as on a new
// fal account.
func RegisterFlags(fs *flag.FlagSet) *Config {
	cfg := &Config{
		Latency:        Latency{Min: time.Second, Max: 4 * time.Second},
		MaxConcurrency: 2,
		WebhookTimeout: defaultWebhookTimeout,
		WebhookRetries: defaultWebhookRetries,
		TimeScale:      1,
	}
	fs.Int64Var(&cfg.Seed, "seed", 0, "seed of the fault and latency choices and of the webhook signing key; the same seed replays the same run")
	fs.Var(&cfg.Latency, "latency", `run time of each request (IN_PROGRESS, reported as inference time): uniform "MIN..MAX" such as "200ms..2s", fixed such as "1s", or "0" for instant`)
	fs.IntVar(&cfg.MaxConcurrency, "max-concurrency", cfg.MaxConcurrency, "most requests IN_PROGRESS at once; the rest wait IN_QUEUE (0 = unlimited)")
	fs.Float64Var(&cfg.SubmitErrorRate, "submit-error-rate", 0, "fraction of submits answered with a 5xx and not queued")
	fs.Float64Var(&cfg.RateLimitRate, "rate-limit-rate", 0, "fraction of submits answered 429 with Retry-After and not queued")
	fs.Float64Var(&cfg.FailRate, "fail-rate", 0, "fraction of requests that complete with a 422 ERROR result")
	fs.Float64Var(&cfg.PayloadErrorRate, "payload-error-rate", 0, `fraction of webhooks sent with "payload": null and a payload_error (result stays pollable)`)
	fs.Float64Var(&cfg.BounceRate, "bounce-rate", 0, "fraction of requests that go IN_PROGRESS -> IN_QUEUE once, as when fal retries a failed runner")
	fs.Float64Var(&cfg.NSFWRate, "nsfw-rate", 0, "fraction of images flagged in has_nsfw_concepts")
	fs.Float64Var(&cfg.WebhookDropRate, "webhook-drop-rate", 0, "fraction of webhooks never delivered (the result stays pollable)")
	fs.Float64Var(&cfg.WebhookDuplicateRate, "webhook-duplicate-rate", 0, "fraction of webhooks delivered a second time after being acknowledged")
	fs.DurationVar(&cfg.WebhookDelay, "webhook-delay", 0, "delay between completion and the first webhook attempt")
	fs.DurationVar(&cfg.WebhookTimeout, "webhook-timeout", cfg.WebhookTimeout, "timeout of each webhook attempt")
	fs.IntVar(&cfg.WebhookRetries, "webhook-retries", cfg.WebhookRetries, "retries of a failed webhook delivery, spaced like fal's (10 over about 2h); negative = none")
	fs.Float64Var(&cfg.TimeScale, "time-scale", cfg.TimeScale, "divides the webhook retry schedule only: 3600 replays fal's 2h of retries in about 2s")
	fs.StringVar(&cfg.UserID, "user-id", defaultUserID, "value of X-Fal-Webhook-User-Id")
	return cfg
}
