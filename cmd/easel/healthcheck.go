package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"
)

// healthcheckCmd probes a URL and exits non-zero unless it answers 2xx: the
// container image has no curl, so docker-compose's healthcheck runs this.
func healthcheckCmd(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	target := fs.String("url", localBaseURL(getenv)+"/readyz", "URL to probe (default from EASEL_ADDR)")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if err := noArgs("healthcheck", fs); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		return fmt.Errorf("%w: --url: %w", errUsage, err)
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
func localBaseURL(getenv func(string) string) string {
	return apiBaseURL(func(name string) string {
		if name == "EASEL_PUBLIC_URL" {
			return ""
		}
		return getenv(name)
	})
}
