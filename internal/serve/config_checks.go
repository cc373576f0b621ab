package serve

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/easelhq/easel/migrations"
)

// minRescueAfter is EASEL_RESCUE_AFTER's floor: jobs time out at half of
// it, and a call to fal with its record must fit in that.
const minRescueAfter = 5 * time.Second

// ErrConfig marks an error in a setting: an environment variable, or the
// flag that stands for it. Nothing runs until it is changed, so easel exits
// 2 for it, as for a bad flag, whichever command read it.
var ErrConfig = errors.New("bad configuration")

// configError is err marked ErrConfig, with err's message alone.
type configError struct{ error }

func (e configError) Is(target error) bool { return target == ErrConfig }
func (e configError) Unwrap() error        { return e.error }

// checkDatabaseURL parses DATABASE_URL as easel serve's pool does, so that
// a bad one stops start-up with an error naming the variable rather than
// when the first connection is attempted, and without showing the value
// (migrations.DatabaseURLError).
func checkDatabaseURL(databaseURL string) error {
	_, err := migrations.ConnConfig(databaseURL)
	var urlErr *migrations.DatabaseURLError
	if errors.As(err, &urlErr) {
		return configError{urlErr}
	}
	return err
}

// CheckDatabaseURL is easel serve's check of DATABASE_URL, for the other
// commands that connect with it: its error, marked ErrConfig, names the
// variable and never shows its value.
func CheckDatabaseURL(databaseURL string) error {
	return checkDatabaseURL(databaseURL)
}

// checkFalKey refuses a FAL_KEY that would fail every request to fal; raw
// is the variable as set, key what is left once surrounding whitespace is
// trimmed. Trimming is safe, since a fal key (key_id:key_secret) has no
// whitespace, and it accepts the trailing newline of a secret file as every
// other variable is. A blank key is refused rather than read as unset,
// which would run the simulator in place of fal. The key is never quoted.
func checkFalKey(raw, key string) error {
	if raw != "" && key == "" {
		return errors.New("FAL_KEY: is set but blank; unset it to run the in-process simulator instead of fal")
	}
	for i, r := range key {
		if r < '!' || r > '~' {
			return fmt.Errorf("FAL_KEY: has a space, control or non-ASCII character at byte %d, which no fal key has (the key is not shown)", i+1)
		}
	}
	return nil
}

// readFalRetentionEnv reads the variables that make fal keep less of each
// submission: FAL_MEDIA_EXPIRATION and FAL_STORE_IO. Each error names its
// variable.
func (c *Config) readFalRetentionEnv(get func(name, def string) string) []error {
	var errs []error
	if v := get("FAL_MEDIA_EXPIRATION", ""); v != "" {
		d, err := parseMediaExpiration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("FAL_MEDIA_EXPIRATION: %w", err))
		}
		c.FalMediaExpiration = d
	}
	storeIO := get("FAL_STORE_IO", "true")
	if keep, err := strconv.ParseBool(storeIO); err != nil {
		errs = append(errs, fmt.Errorf("FAL_STORE_IO: %q is not true or false", storeIO))
	} else {
		c.FalDisableStoreIO = !keep
	}
	return errs
}

// parseMediaExpiration reads FAL_MEDIA_EXPIRATION's value. fal takes the
// expiration in whole seconds, so a fraction is refused rather than
// rounded, which would keep the images for another time than the one
// asked for. Zero is refused too, rather than read as unset or sent as
// "delete at once", which fal does not document: either could surprise
// whoever set it.
func parseMediaExpiration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	switch {
	case err != nil || d < time.Second:
		return 0, fmt.Errorf("%q is not a duration of at least 1s such as 3600s or 24h; unset it to keep fal's own media retention", v)
	case d%time.Second != 0:
		return 0, fmt.Errorf("%q is not a whole number of seconds, which fal takes the expiration in", v)
	}
	return d, nil
}

// checkDurations cross-checks the durations that only work together. Each
// error names the variable to change.
func (c *Config) checkDurations() []error {
	var errs []error
	if c.PollAfter > 0 && c.Timeout > 0 && c.Timeout <= 2*c.PollAfter {
		// A submission whose answer was lost waits EASEL_POLL_AFTER for its
		// webhook, and a submitted generation is polled at fal after another
		// EASEL_POLL_AFTER; a shorter timeout fails generations before
		// either could recover them.
		errs = append(errs, fmt.Errorf("EASEL_TIMEOUT: %s must be more than twice EASEL_POLL_AFTER (%s)", c.Timeout, c.PollAfter))
	}
	if c.RescueAfter > 0 && c.RescueAfter < minRescueAfter {
		errs = append(errs, fmt.Errorf("EASEL_RESCUE_AFTER: %s is below the minimum of %s: jobs time out at half of it, too soon for a call to fal",
			c.RescueAfter, minRescueAfter))
	}
	return errs
}

// checkPublicURL refuses an EASEL_PUBLIC_URL, or its absence, that would
// lose every webhook. It runs once flags have set the role.
//
// Only processes that run workers use the URL: they hand it to fal with each
// submission. Fal is local when FAL_KEY is unset (the in-process simulator)
// or FAL_QUEUE_URL is on a loopback address (a simulator such as `easel
// sim`); then a loopback URL reaches Easel, and when none is set Run uses its
// own listener's address. Real fal needs a URL it can reach, which a
// loopback or unspecified (0.0.0.0) host never is, and which a process could
// not guess. A worker needs one in every case, since its own listener does
// not serve /webhooks/fal/.
func (c *Config) checkPublicURL() error {
	if !c.Role.runsWorkers() {
		return nil
	}
	remote := c.FalKey != "" && !loopbackURL(c.FalQueueURL)
	switch {
	case c.PublicURL == "" && c.Role == RoleWorker:
		return configError{errors.New("EASEL_PUBLIC_URL: must be set with --role worker: it names the processes that receive fal's webhooks, and a worker does not")}
	case c.PublicURL == "" && remote:
		return configError{errors.New("EASEL_PUBLIC_URL: must be set when FAL_KEY is set: fal delivers every result to it, so it must be a URL fal can reach")}
	case c.PublicURL != "" && remote && !reachableFromFal(c.PublicURL):
		return configError{fmt.Errorf("EASEL_PUBLIC_URL: %q is a loopback or unspecified address, which fal cannot reach to deliver results", c.PublicURL)}
	}
	return nil
}

// loopbackURL reports whether raw's host is a loopback address or
// localhost.
func loopbackURL(raw string) bool {
	host, ip := urlHost(raw)
	return host == "localhost" || strings.HasSuffix(host, ".localhost") || ip.IsLoopback()
}

// reachableFromFal reports whether raw's host could be reached from
// another machine: it is neither loopback nor unspecified.
func reachableFromFal(raw string) bool {
	_, ip := urlHost(raw)
	return !loopbackURL(raw) && !ip.IsUnspecified()
}

// urlHost returns raw's host name in lower case and, if it is an IP
// address, that address.
func urlHost(raw string) (string, netip.Addr) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", netip.Addr{}
	}
	host := strings.ToLower(u.Hostname())
	ip, _ := netip.ParseAddr(host)
	return host, ip
}

// CheckAddr reads addr as net.Listen would take it for easel serve: host:port,
// the host empty, an IP address or a name, the port a number up to 65535 or a
// service name such as http. Its error says what is wrong without naming
// where addr came from, which the caller knows (EASEL_ADDR, or --addr).
func CheckAddr(addr string) error {
	_, err := localURL(addr)
	return err
}

// localURL is LocalURL, with an error that names no variable.
func localURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", errors.New("not host:port")
	}
	// By name too, as net.Listen takes it; a URL needs the number.
	n, err := net.LookupPort("tcp", port)
	if err != nil {
		return "", fmt.Errorf("port %q is not a number from 0 to 65535 nor a known service", port)
	}
	ip, ipErr := netip.ParseAddr(host)
	switch {
	case host == "" || (ipErr == nil && ip.IsUnspecified()):
		host = "127.0.0.1"
	case ipErr == nil && ip.Zone() != "":
		// A URL writes the zone's '%' escaped.
		host = strings.ReplaceAll(host, "%", "%25")
	}
	u := "http://" + net.JoinHostPort(host, strconv.Itoa(n))
	if parsed, err := url.Parse(u); err != nil || parsed.Host == "" {
		return "", fmt.Errorf("host %q is not a host name or IP address", host)
	}
	return u, nil
}

// LocalURL is the base URL at which a process on this host reaches a
// server listening on addr, EASEL_ADDR's value: an empty or unspecified
// host (0.0.0.0, ::) becomes 127.0.0.1, which Go's dual-stack listeners
// accept. An addr easel serve could not listen on, or that makes no URL, is
// an error naming EASEL_ADDR, marked ErrConfig, rather than a URL that
// fails later with an error about the URL.
func LocalURL(addr string) (string, error) {
	u, err := localURL(addr)
	if err != nil {
		return "", configError{fmt.Errorf("EASEL_ADDR: %q: %w", addr, err)}
	}
	return u, nil
}

// listenerURL is LocalURL for a live listener's address.
func listenerURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	u, err := localURL(net.JoinHostPort(tcp.IP.String(), strconv.Itoa(tcp.Port)))
	if err != nil {
		// Not for an address a listener has: kept as it is, to show it.
		return "http://" + addr.String()
	}
	return u
}

// ListenError is Run's error when it cannot listen on Config.Addr. It names
// the setting the address came from: EASEL_ADDR, unless the caller took it
// from elsewhere and set Source, as easel serve does for --addr.
type ListenError struct {
	Source string // "EASEL_ADDR" when empty
	Addr   string
	Err    error
}

func (e *ListenError) Error() string {
	return fmt.Sprintf("listen on %s %s: %v", cmp.Or(e.Source, "EASEL_ADDR"), e.Addr, e.Err)
}

func (e *ListenError) Unwrap() error { return e.Err }
