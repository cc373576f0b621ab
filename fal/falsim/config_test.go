package falsim_test

import (
	"flag"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/fal/falsim"
)

func TestNewRejectsInvalidConfig(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		cfg     falsim.Config
		wantErr string
	}{
		{"rate above one", falsim.Config{NSFWRate: 1.5}, "NSFWRate"},
		{"negative rate", falsim.Config{WebhookDropRate: -0.1}, "WebhookDropRate"},
		{"NaN rate", falsim.Config{SubmitErrorRate: math.NaN()}, "SubmitErrorRate"},
		{"inverted latency", falsim.Config{Latency: falsim.Latency{Min: 2 * time.Second, Max: time.Second}}, "Latency"},
		{"negative concurrency", falsim.Config{MaxConcurrency: -1}, "MaxConcurrency"},
		{"negative delay", falsim.Config{WebhookDelay: -time.Second}, "WebhookDelay"},
		{"negative time scale", falsim.Config{TimeScale: -1}, "TimeScale"},
		{"relative files URL", falsim.Config{FilesURL: "/_sim/files"}, `FilesURL "/_sim/files" is not an http(s) URL`},
		{"files URL with a query", falsim.Config{FilesURL: "http://127.0.0.1:8080/files?x=1"}, "FilesURL"},
		{"negative retention", falsim.Config{Retention: -time.Minute}, "Retention -1m0s is negative"},
		{"rate message names the field", falsim.Config{FailRate: 2}, "FailRate 2 is outside [0, 1]"},
		{"unknown NSFW rate above one", falsim.Config{NSFWUnknownRate: 1.01}, "NSFWUnknownRate 1.01 is outside [0, 1]"},
		{"negative unknown NSFW rate", falsim.Config{NSFWUnknownRate: -0.5}, "NSFWUnknownRate -0.5 is outside [0, 1]"},
		{"NaN unknown NSFW rate", falsim.Config{NSFWUnknownRate: math.NaN()}, "NSFWUnknownRate NaN is outside [0, 1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := falsim.New(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestSummary(t *testing.T) {
	t.Parallel()

	require.Equal(t,
		"seed=0 latency=0s max-concurrency=unlimited submit-5xx=0% 429=0% fail=0% payload-error=0% bounce=0% nsfw=0% nsfw-unknown=0%"+
			" webhook-drop=0% webhook-duplicate=0% webhook-delay=0s webhook-timeout=15s webhook-retries=10 time-scale=1 retention=1h0m0s",
		falsim.Config{}.Summary())

	summary := falsim.Config{
		Seed:                 9,
		Latency:              falsim.Latency{Min: 200 * time.Millisecond, Max: 2 * time.Second},
		MaxConcurrency:       2,
		SubmitErrorRate:      0.05,
		NSFWRate:             0.1,
		NSFWUnknownRate:      0.25,
		WebhookDuplicateRate: 0.333,
		WebhookRetries:       -1,
		TimeScale:            60,
		Retention:            10 * time.Minute,
	}.Summary()
	for _, want := range []string{"seed=9 ", "latency=200ms..2s ", "max-concurrency=2 ", "submit-5xx=5% ", "nsfw=10% ", "nsfw-unknown=25% ", "webhook-duplicate=33.3% ", "webhook-retries=0 ", "time-scale=60 ", "retention=10m0s"} {
		require.Contains(t, summary, want)
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		cfg := falsim.RegisterFlags(fs)
		require.NoError(t, fs.Parse(nil))
		require.Equal(t, falsim.Latency{Min: time.Second, Max: 4 * time.Second}, cfg.Latency)
		require.Equal(t, 2, cfg.MaxConcurrency)
		require.Equal(t, 15*time.Second, cfg.WebhookTimeout)
		require.Equal(t, 10, cfg.WebhookRetries)
		require.InDelta(t, 1, cfg.TimeScale, 0)
		require.Equal(t, time.Hour, cfg.Retention)
		_, err := falsim.New(*cfg)
		require.NoError(t, err)
	})

	t.Run("every flag", func(t *testing.T) {
		t.Parallel()
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		cfg := falsim.RegisterFlags(fs)
		require.NoError(t, fs.Parse([]string{
			"--seed=5", "--latency=200ms..2s", "--max-concurrency=0",
			"--submit-error-rate=0.1", "--rate-limit-rate=0.2", "--fail-rate=0.3", "--payload-error-rate=0.4",
			"--bounce-rate=0.5", "--nsfw-rate=0.6", "--nsfw-unknown-rate=0.65", "--webhook-drop-rate=0.7", "--webhook-duplicate-rate=0.8",
			"--webhook-delay=1s", "--webhook-timeout=2s", "--webhook-retries=3", "--time-scale=100", "--user-id=u",
			"--files-url=http://127.0.0.1:8080/_sim/files", "--retention=2h",
		}))
		require.Equal(t, falsim.Config{
			Seed:                 5,
			Latency:              falsim.Latency{Min: 200 * time.Millisecond, Max: 2 * time.Second},
			SubmitErrorRate:      0.1,
			RateLimitRate:        0.2,
			FailRate:             0.3,
			PayloadErrorRate:     0.4,
			BounceRate:           0.5,
			NSFWRate:             0.6,
			NSFWUnknownRate:      0.65,
			WebhookDropRate:      0.7,
			WebhookDuplicateRate: 0.8,
			WebhookDelay:         time.Second,
			WebhookTimeout:       2 * time.Second,
			WebhookRetries:       3,
			TimeScale:            100,
			UserID:               "u",
			FilesURL:             "http://127.0.0.1:8080/_sim/files",
			Retention:            2 * time.Hour,
		}, *cfg)
	})

	// A bad value fails the parse, before New, with an error naming the
	// flag rather than Config's field.
	for _, tt := range []struct {
		arg, wantErr string
	}{
		{"--latency=2s..1s", `invalid value "2s..1s" for flag -latency: parse latency "2s..1s": maximum is below minimum`},
		{"--fail-rate=2", `invalid value "2" for flag -fail-rate: 2 is outside [0, 1]`},
		{"--nsfw-rate=-0.5", `invalid value "-0.5" for flag -nsfw-rate: -0.5 is outside [0, 1]`},
		{"--nsfw-unknown-rate=1.5", `invalid value "1.5" for flag -nsfw-unknown-rate: 1.5 is outside [0, 1]`},
		{"--nsfw-unknown-rate=some", `invalid value "some" for flag -nsfw-unknown-rate: not a number`},
		{"--submit-error-rate=NaN", `invalid value "NaN" for flag -submit-error-rate: NaN is outside [0, 1]`},
		{"--webhook-drop-rate=often", `invalid value "often" for flag -webhook-drop-rate: not a number`},
		{"--max-concurrency=-1", `invalid value "-1" for flag -max-concurrency: -1 is negative`},
		{"--webhook-delay=-1s", `invalid value "-1s" for flag -webhook-delay: -1s is negative`},
		{"--webhook-timeout=soon", `invalid value "soon" for flag -webhook-timeout: not a duration such as 500ms or 2s`},
		{"--time-scale=-60", `invalid value "-60" for flag -time-scale: -60 is negative`},
		{"--time-scale=NaN", `invalid value "NaN" for flag -time-scale: NaN is not a number`},
		// Config reads these zero values as defaults; a flag says what it means.
		{"--time-scale=0", `invalid value "0" for flag -time-scale: must be more than 0`},
		{"--webhook-timeout=0s", `invalid value "0s" for flag -webhook-timeout: must be more than 0`},
		{"--webhook-timeout=-1s", `invalid value "-1s" for flag -webhook-timeout: -1s is negative`},
		{"--user-id=", `invalid value "" for flag -user-id: must not be empty`},
		{"--webhook-retries=twice", `invalid value "twice" for flag -webhook-retries: not an integer`},
		{"--retention=0s", `invalid value "0s" for flag -retention: must be more than 0`},
		{"--retention=-1h", `invalid value "-1h" for flag -retention: -1h0m0s is negative`},
		{"--retention=forever", `invalid value "forever" for flag -retention: not a duration such as 500ms or 2s`},
		{"--files-url=127.0.0.1:8080", `invalid value "127.0.0.1:8080" for flag -files-url: "127.0.0.1:8080" is not an http(s) URL without query or fragment`},
	} {
		t.Run(tt.arg, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("sim", flag.ContinueOnError)
			fs.SetOutput(discard{})
			falsim.RegisterFlags(fs)
			err := fs.Parse([]string{tt.arg})
			require.EqualError(t, err, tt.wantErr)
		})
	}
}

// --webhook-retries 0 means no retries, although Config.WebhookRetries 0
// means fal's 10.
func TestRegisterFlagsNoRetries(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--webhook-retries=0", "--webhook-retries=-3"} {
		fs := flag.NewFlagSet("sim", flag.ContinueOnError)
		cfg := falsim.RegisterFlags(fs)
		require.NoError(t, fs.Parse([]string{arg}))
		require.Equal(t, -1, cfg.WebhookRetries, arg)
		require.Contains(t, cfg.Summary(), " webhook-retries=0 ", arg)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestLatencySet(t *testing.T) {
	t.Parallel()

	tests := []struct {
		in      string
		want    falsim.Latency
		wantErr bool
	}{
		{in: "0", want: falsim.Latency{}},
		{in: "1s", want: falsim.Latency{Min: time.Second, Max: time.Second}},
		{in: "200ms..2s", want: falsim.Latency{Min: 200 * time.Millisecond, Max: 2 * time.Second}},
		{in: " 1s .. 1m ", want: falsim.Latency{Min: time.Second, Max: time.Minute}},
		{in: "", wantErr: true},
		{in: "fast", wantErr: true},
		{in: "1s..", wantErr: true},
		{in: "-1s", wantErr: true},
		{in: "2s..1s", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var l falsim.Latency
			err := l.Set(tt.in)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, l)
		})
	}
}

func FuzzLatencySet(f *testing.F) {
	for _, s := range []string{"0", "1s", "200ms..2s", "1h..1h", "-5s..1s", "1s...2s", "..", "1e3s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var l falsim.Latency
		if l.Set(s) != nil {
			return
		}
		require.GreaterOrEqual(t, l.Min, time.Duration(0))
		require.GreaterOrEqual(t, l.Max, l.Min)
		var again falsim.Latency
		require.NoError(t, again.Set(l.String()), "String must parse back")
		require.Equal(t, l, again)
	})
}
