package falsim

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RegisterFlags defines the `easel sim` flags on fs and returns the Config
// they fill in when fs is parsed. Unlike the zero Config, the defaults make a
// realistic account: a few seconds per generation, two at a time, as on a new
// fal account.
//
// Parsing checks each value as New would, so that a bad one fails the parse
// with an error naming the flag rather than Config's field. A value whose
// Config field would read it as "the default" is refused too (a zero
// --webhook-timeout, --time-scale or --retention, an empty --user-id),
// rather than quietly replaced: only --webhook-retries 0 has a meaning of
// its own, none, and gets it.
func RegisterFlags(fs *flag.FlagSet) *Config {
	cfg := &Config{
		Latency:        Latency{Min: time.Second, Max: 4 * time.Second},
		MaxConcurrency: 2,
		WebhookTimeout: defaultWebhookTimeout,
		WebhookRetries: defaultWebhookRetries,
		TimeScale:      1,
		Retention:      defaultRetention,
	}
	rate := func(p *float64, name, usage string) {
		fs.Var(&checkedValue[float64]{p: p, parse: parseFloat, check: checkRate}, name, usage)
	}
	fs.Int64Var(&cfg.Seed, "seed", 0, "seed of the fault and latency choices and of the webhook signing key; the same seed replays the same run")
	fs.Var(&cfg.Latency, "latency", `run time of each request (IN_PROGRESS, reported as inference time): uniform "MIN..MAX" such as "200ms..2s", fixed such as "1s", or "0" for instant`)
	fs.Var(&checkedValue[int]{p: &cfg.MaxConcurrency, parse: parseInt, check: checkNotNegative[int]},
		"max-concurrency", "most requests IN_PROGRESS at once; the rest wait IN_QUEUE (0 = unlimited)")
	rate(&cfg.SubmitErrorRate, "submit-error-rate", "`fraction` of submits answered with a 5xx and not queued")
	rate(&cfg.RateLimitRate, "rate-limit-rate", "`fraction` of submits answered 429 with Retry-After and not queued")
	rate(&cfg.FailRate, "fail-rate", "`fraction` of requests that complete with a 422 ERROR result")
	rate(&cfg.PayloadErrorRate, "payload-error-rate", "`fraction` of webhooks sent with \"payload\": null and a payload_error (result stays pollable)")
	rate(&cfg.BounceRate, "bounce-rate", "`fraction` of requests that go IN_PROGRESS -> IN_QUEUE once, as when fal retries a failed runner")
	rate(&cfg.NSFWRate, "nsfw-rate", "`fraction` of images flagged in has_nsfw_concepts")
	rate(&cfg.NSFWUnknownRate, "nsfw-unknown-rate", "`fraction` of results whose has_nsfw_concepts flags no image readably: missing, null, one entry short or strings, drawn per request")
	rate(&cfg.WebhookDropRate, "webhook-drop-rate", "`fraction` of webhooks never delivered (the result stays pollable)")
	rate(&cfg.WebhookDuplicateRate, "webhook-duplicate-rate", "`fraction` of webhooks delivered a second time after being acknowledged")
	fs.Var(&checkedValue[time.Duration]{p: &cfg.WebhookDelay, parse: parseDuration, check: checkNotNegative[time.Duration]},
		"webhook-delay", "`delay` between completion and the first webhook attempt")
	fs.Var(&checkedValue[time.Duration]{p: &cfg.WebhookTimeout, parse: parseDuration, check: checkPositive[time.Duration]},
		"webhook-timeout", "`timeout` of each webhook attempt")
	fs.Var(&checkedValue[int]{p: &cfg.WebhookRetries, parse: parseRetries},
		"webhook-retries", "retries of a failed webhook delivery, spaced like fal's (10 over about 2h); 0 or negative = none")
	fs.Var(&checkedValue[float64]{p: &cfg.TimeScale, parse: parseFloat, check: checkPositive[float64]},
		"time-scale", "divides the webhook retry schedule only: 3600 replays fal's 2h of retries in about 2s")
	cfg.UserID = defaultUserID
	fs.Var(&checkedValue[string]{p: &cfg.UserID, parse: parseString, check: checkNotEmpty},
		"user-id", "value of X-Fal-Webhook-User-Id")
	fs.Var(&checkedValue[string]{p: &cfg.FilesURL, parse: parseString, check: checkFilesURL},
		"files-url", "base `URL` of the image URLs in results, where clients load the images (URL/{W}x{H}/{variant}/{name}); empty = /files/ at the address each client used")
	fs.Var(&checkedValue[time.Duration]{p: &cfg.Retention, parse: parseDuration, check: checkPositive[time.Duration]},
		"retention", "how long a finished request is kept after it completed and its webhook was delivered or given up; then status, result and cancel answer 404 NOT_FOUND (image URLs keep working)")
	return cfg
}

// checkedValue is a flag.Value that refuses what check refuses. The flag
// package then reports the value and the flag's name.
type checkedValue[T any] struct {
	p     *T
	parse func(string) (T, error)
	check func(T) error
}

func (v *checkedValue[T]) String() string {
	// The flag package calls String on a zero checkedValue to tell whether
	// a flag's default is its zero value.
	if v == nil || v.p == nil {
		var zero T
		return fmt.Sprint(zero)
	}
	return fmt.Sprint(*v.p)
}

func (v *checkedValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		return err
	}
	if v.check != nil {
		if err := v.check(x); err != nil {
			return err
		}
	}
	*v.p = x
	return nil
}

func parseFloat(s string) (float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, errors.New("not a number")
	}
	return f, nil
}

func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("not an integer")
	}
	return n, nil
}

func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, errors.New("not a duration such as 500ms or 2s")
	}
	return d, nil
}

func parseString(s string) (string, error) { return s, nil }

// parseRetries reads a retry count. Config.WebhookRetries reads 0 as fal's
// 10, so "no retries", 0 or negative, is stored as -1.
func parseRetries(s string) (int, error) {
	n, err := parseInt(s)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return -1, nil
	}
	return n, nil
}

func checkPositive[T int | float64 | time.Duration](v T) error {
	if err := checkNotNegative(v); err != nil {
		return err
	}
	if v == 0 {
		return errors.New("must be more than 0")
	}
	return nil
}

func checkNotEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty")
	}
	return nil
}
