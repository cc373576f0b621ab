package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/easelhq/easel/fal/falsim"
)

var simHelp = help{
	usage: "sim [flags]",
	about: `Runs the fal simulator as its own server: fal's queue API (submit, status,
result, cancel), signed webhooks with their JWKS, and the result images, with
the latency and the faults the flags ask for. Once it listens it prints, on
stdout, lines a shell can source: export lines setting the FAL_QUEUE_URL,
FAL_JWKS_URL and FAL_KEY that point easel serve at it, and comments saying
where it listens and what faults it injects (easel sim >sim.env & then
. ./sim.env). It runs until SIGTERM or SIGINT; its requests live in memory
only.`,
	env: [][2]string{
		{"EASEL_LOG_LEVEL", "debug, info, warn or error (default info)"},
	},
	footer: `docs/SIMULATOR.md says more.`,
}

func simCmd(ctx context.Context, args []string, stdout io.Writer, logger loggerFunc) error {
	fs := newFlagSet("sim")
	addr := fs.String("addr", "127.0.0.1:9090", "listen `host:port`")
	cfg := falsim.RegisterFlags(fs)
	if err := parseFlags(fs, simHelp, args, stdout); err != nil {
		return err
	}
	// An empty address would listen on every interface at a random port.
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return flagError("sim", fmt.Errorf("invalid value %q for flag -addr: not host:port", *addr))
	}
	l, err := logger()
	if err != nil {
		return err
	}
	cfg.Logger = l
	srv, err := falsim.Start(ctx, *addr, *cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	if err := writeSimEnv(stdout, srv.URL, srv.QueueURL(), srv.JWKSURL(), cfg.Summary()); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// writeSimEnv prints what points easel serve at the simulator listening at
// url as a shell script: export lines, and comments for a person (a script
// reading the address finds it after "fal simulator listening on ").
func writeSimEnv(w io.Writer, url, queueURL, jwksURL, faults string) error {
	_, err := fmt.Fprintf(w, "# fal simulator listening on %s\n"+
		"# point easel serve at it with these variables (FAL_KEY: any non-empty value)\n"+
		"export FAL_QUEUE_URL=%s\n"+
		"export FAL_JWKS_URL=%s\n"+
		"export FAL_KEY=sim\n"+
		"# faults: %s\n",
		url, shellQuote(queueURL), shellQuote(jwksURL), strings.ReplaceAll(faults, "\n", " "))
	if err != nil {
		return fmt.Errorf("print the simulator's variables: %w", err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it holds anything but the
// characters of a plain URL: an IPv6 address's brackets are a glob.
func shellQuote(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
