package api

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/easelhq/easel/jobs"
)

// AnonymousClient is the client of a request that no middleware named:
// one Auth.RequireKey admitted without a key while the API is open, or one
// that reached a Handler mounted behind middleware that did not call
// SetClientName, or behind none. All such requests share this one name,
// and so one EASEL_CLIENT_MAX_PENDING cap (WithMaxPending), one
// EASEL_CLIENT_MAX_INFLIGHT allowance, one scope of idempotency keys and
// one history under ?client=anonymous.
const AnonymousClient = "anonymous"

const clientKey = "easel.client"

// ErrInvalidClientName is wrapped by SetClientName's error, and by the
// error of an enqueue whose recorded client name is invalid.
var ErrInvalidClientName = errors.New("invalid client name")

// SetClientName names the caller of c as the client of what it enqueues:
// the client of its generations, the scope of its idempotency keys, and
// the name that EASEL_CLIENT_MAX_PENDING and EASEL_CLIENT_MAX_INFLIGHT
// count by and GET /v1/generations?client= lists. Auth.RequireKey names a
// caller by its key's name; a service that mounts Handler behind its own
// authentication calls SetClientName from that middleware, with the name
// it knows the caller by, before it calls next. Without either, the caller
// is AnonymousClient.
//
// name must be 1 to jobs.MaxClientBytes bytes of UTF-8 without the NUL
// character, as Enqueue requires of a client. An invalid name returns an
// error wrapping ErrInvalidClientName that quotes it, which the middleware
// should return: the name is the service's doing, not the caller's, so
// ErrorHandler answers it 500 and logs it. The name is recorded even so,
// so that a middleware that drops the error gets its requests' enqueues
// refused the same way, never made AnonymousClient's.
func SetClientName(c echo.Context, name string) error {
	c.Set(clientKey, name)
	return checkClientName(name)
}

// ClientName is the client that SetClientName or Auth.RequireKey named for
// c, as given, or AnonymousClient when neither did.
func ClientName(c echo.Context) string {
	if name, ok := c.Get(clientKey).(string); ok {
		return name
	}
	return AnonymousClient
}

// shownClientRunes bounds how much of an invalid client name an error
// quotes: it goes to the log, and may be any length.
const shownClientRunes = 64

// checkClientName says what is wrong with a client name, or nil. jobs
// refuses the same names, but as the caller's 422 naming the field
// "client", which a caller of the API can do nothing about.
func checkClientName(name string) error {
	problem := jobs.ClientProblem(name)
	if problem == "" {
		return nil
	}
	shown := fmt.Sprintf("%q", name)
	if utf8.RuneCountInString(name) > shownClientRunes {
		shown = fmt.Sprintf("%.*q (cut)", shownClientRunes, name)
	}
	return fmt.Errorf("%w %s: it %s (see api.SetClientName)", ErrInvalidClientName, shown, problem)
}
