package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/easelhq/easel/api"
	"github.com/easelhq/easel/callbacks"
)

// readCallbackEnv reads EASEL_CALLBACK_SECRET and
// EASEL_ALLOW_PRIVATE_CALLBACKS. Errors name the variable, never the secret.
func (c *Config) readCallbackEnv(get func(name, def string) string) []error {
	var errs []error
	c.CallbackSecret = get("EASEL_CALLBACK_SECRET", "")
	if c.CallbackSecret != "" {
		if _, err := callbacks.NewSigner(c.CallbackSecret); err != nil {
			errs = append(errs, fmt.Errorf("EASEL_CALLBACK_SECRET: %w", err))
		}
	}
	allow := get("EASEL_ALLOW_PRIVATE_CALLBACKS", "false")
	var err error
	if c.AllowPrivateCallbacks, err = strconv.ParseBool(allow); err != nil {
		errs = append(errs, fmt.Errorf("EASEL_ALLOW_PRIVATE_CALLBACKS: %q is not true or false", allow))
	}
	return errs
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
	signer, err := callbacks.NewSigner(cfg.CallbackSecret)
	if err != nil {
		return nil, nil, fmt.Errorf("EASEL_CALLBACK_SECRET: %w", err)
	}
	policy := &callbacks.Policy{AllowPrivate: cfg.AllowPrivateCallbacks}
	if policy.AllowPrivate {
		logger.Warn("EASEL_ALLOW_PRIVATE_CALLBACKS is true: callbacks may reach loopback and private addresses")
	}
	return callbacks.NewDeliverer(signer, policy), policy, nil
}

// noCallbacks refuses every callback URL.
type noCallbacks struct{}

func (noCallbacks) CheckURL(context.Context, string) error {
	return errors.New("callbacks are disabled on this server: it has no EASEL_CALLBACK_SECRET to sign them with")
}
