package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/easelhq/easel/internal/serve"
)

var healthcheckHelp = help{
	usage: "healthcheck [flags]",
	about: `Probes a URL, by default the /readyz of the easel serve beside it, and exits 0
when it answers 2xx within --timeout, 1 otherwise (2 for a bad flag or
variable): the container healthcheck, as the image has no curl.`,
	env: [][2]string{
		{"EASEL_ADDR", "--url's host: this listen address as this host reaches it (0.0.0.0\nbecomes 127.0.0.1). EASEL_PUBLIC_URL is never used: it may name other\nprocesses"},
		{"EASEL_LOG_LEVEL", "checked as for every command"},
	},
}

// healthcheckCmd probes a URL and exits non-zero unless it answers 2xx: the
// container image has no curl, so docker-compose's healthcheck runs this.
func healthcheckCmd(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string, logger loggerFunc) error {
	fs := newFlagSet("healthcheck")
	base, baseErr := localBaseURL(getenv)
	defaultURL := "" // none when EASEL_ADDR makes none: refused below unless --url is given
	if baseErr == nil {
		defaultURL = base + "/readyz"
	}
	target := fs.String("url", defaultURL, "`URL` to probe")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer; more than 0")
	if err := parseFlags(fs, healthcheckHelp, args, stdout); err != nil {
		return err
	}
	if *timeout <= 0 {
		// A context already done would fail every probe, healthy or not.
		return flagError("healthcheck", fmt.Errorf("invalid value %q for flag -timeout: must be more than 0", timeout.String()))
	}
	urlSet := false
	fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" })
	if baseErr != nil && !urlSet {
		return fmt.Errorf("%w; fix it, or give --url", baseErr)
	}
	if u, err := url.Parse(*target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return flagError("healthcheck", fmt.Errorf("invalid value %q for flag -url: not an http(s) URL", *target))
	}
	if _, err := logger(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", *target, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck %s: %w", *target, err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck %s: HTTP %d", *target, resp.StatusCode)
	}
	return nil
}

// localBaseURL is where this host reaches the easel serve configured by the
// environment's EASEL_ADDR. Unlike apiBaseURL it ignores EASEL_PUBLIC_URL: a
// healthcheck must probe the process beside it, not whichever one a load
// balancer picks, nor, from a worker, the API processes the URL names.
func localBaseURL(getenv func(string) string) (string, error) {
	return serve.LocalURL(cmp.Or(strings.TrimSpace(getenv("EASEL_ADDR")), serve.DefaultAddr))
}
