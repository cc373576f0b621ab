package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"github.com/riverqueue/river"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/callbacks"
	"github.com/easelhq/easel/jobs"
)

// readCallbackEnv reads EASEL_CALLBACK_SECRET, EASEL_ALLOW_PRIVATE_CALLBACKS
// and EASEL_CALLBACK_WORKERS. Errors name the variable, never a secret.
func (c *Config) readCallbackEnv(get func(name, def string) string) []error {
	var errs []error
	c.CallbackSecret = get("EASEL_CALLBACK_SECRET", "")
	if c.CallbackSecret != "" {
		if _, err := callbacks.ParseSecrets(c.CallbackSecret); err != nil {
			errs = append(errs, fmt.Errorf("EASEL_CALLBACK_SECRET: %w", err))
		}
	}
	var err error
	if c.AllowPrivateCallbacks, c.AllowedCallbackNets, err = parseAllowPrivate(get("EASEL_ALLOW_PRIVATE_CALLBACKS", "false")); err != nil {
		errs = append(errs, fmt.Errorf("EASEL_ALLOW_PRIVATE_CALLBACKS: %w", err))
	}
	workers := get("EASEL_CALLBACK_WORKERS", strconv.Itoa(jobs.DefaultCallbackWorkers))
	if c.CallbackWorkers, err = positiveInt(workers); err != nil {
		errs = append(errs, fmt.Errorf("EASEL_CALLBACK_WORKERS: %w", err))
	} else if c.CallbackWorkers > river.QueueNumWorkersMax {
		errs = append(errs, fmt.Errorf("EASEL_CALLBACK_WORKERS: %d is more than River's maximum of %d workers for a queue", c.CallbackWorkers, river.QueueNumWorkersMax))
	}
	return errs
}

// parseAllowPrivate reads EASEL_ALLOW_PRIVATE_CALLBACKS: true or false, or
// a comma-separated list of ranges (CIDRs, or single addresses) allowed
// besides the public addresses.
func parseAllowPrivate(value string) (bool, []netip.Prefix, error) {
	if all, err := strconv.ParseBool(value); err == nil {
		return all, nil, nil
	}
	entries := strings.Split(value, ",")
	nets := make([]netip.Prefix, 0, len(entries))
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		p, err := parseNet(entry)
		switch {
		case errors.Is(err, errNotNet) && len(entries) == 1:
			return false, nil, fmt.Errorf("%q is not true, false, or a comma-separated list of CIDRs such as 10.20.0.0/16", value)
		case err != nil && len(entries) == 1:
			return false, nil, fmt.Errorf("%q %w", entry, err)
		case err != nil:
			return false, nil, fmt.Errorf("entry %d of %d, %q, %w", i+1, len(entries), entry, err)
		}
		nets = append(nets, p)
	}
	return false, nets, nil
}

var errNotNet = errors.New("is not a CIDR such as 10.20.0.0/16 or an IP address")

// parseNet reads a CIDR, or an address as the range of it alone. Errors
// read well after the quoted entry.
func parseNet(entry string) (netip.Prefix, error) {
	if entry == "" {
		return netip.Prefix{}, errors.New("is empty")
	}
	if !strings.Contains(entry, "/") {
		addr, err := netip.ParseAddr(entry)
		if err != nil || addr.Zone() != "" {
			return netip.Prefix{}, errNotNet
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), nil
	}
	p, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, errNotNet
	}
	if p.Addr().Is4In6() {
		return netip.Prefix{}, errors.New("is an IPv4-mapped range: write it as IPv4")
	}
	if p.Masked() != p {
		// 10.1.2.3/16 may mean 10.1.0.0/16 or the one address: refused
		// rather than guessed.
		return netip.Prefix{}, fmt.Errorf("has bits set past its /%d: write %s, or %s/%d for the address alone", p.Bits(), p.Masked(), p.Addr(), p.Addr().BitLen())
	}
	return p, nil
}

// newCallbacks returns what delivers callbacks and what vets callback URLs
// at enqueue. Without a secret no callback could be signed, so callback_url
// is refused when a generation is enqueued rather than accepted and never
// delivered; the deliverer is then nil.
func newCallbacks(cfg Config, logger *slog.Logger) (*callbacks.Deliverer, api.CallbackURLChecker, error) {
	if cfg.CallbackSecret == "" {
		if cfg.Role == RoleWorker {
			// A worker refuses no requests: it runs the deliveries, which
			// cannot be signed.
			logger.Info("EASEL_CALLBACK_SECRET is unset: this worker cannot sign callbacks; each callback delivery it runs fails and is retried until the secret is set")
		} else {
			logger.Info("EASEL_CALLBACK_SECRET is unset: requests with a callback_url are refused")
		}
		return nil, noCallbacks{}, nil
	}
	secrets, err := callbacks.ParseSecrets(cfg.CallbackSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("EASEL_CALLBACK_SECRET: %w", err)
	}
	if n := len(strings.Fields(cfg.CallbackSecret)); n > 1 {
		logger.Info(fmt.Sprintf("EASEL_CALLBACK_SECRET holds %d secrets: callbacks carry a signature for each, the first being the current one", n))
	}
	policy := &callbacks.Policy{AllowPrivate: cfg.AllowPrivateCallbacks, Allowed: cfg.AllowedCallbackNets}
	if policy.AllowPrivate {
		logger.Warn("EASEL_ALLOW_PRIVATE_CALLBACKS is true: callbacks may reach loopback, private and link-local addresses, this host's and cloud metadata services included")
	} else if len(policy.Allowed) > 0 {
		allowed := make([]string, len(policy.Allowed))
		for i, p := range policy.Allowed {
			allowed[i] = p.String()
		}
		logger.Info("callbacks may reach these ranges besides public addresses (EASEL_ALLOW_PRIVATE_CALLBACKS)", "ranges", strings.Join(allowed, ","))
	}
	return callbacks.NewDeliverer(secrets, policy), policy, nil
}

// noCallbacks refuses every callback URL.
type noCallbacks struct{}

func (noCallbacks) CheckURL(context.Context, string) error {
	return errors.New("callbacks are disabled on this server: it has no EASEL_CALLBACK_SECRET to sign them with")
}
