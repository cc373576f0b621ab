package serve

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// minRescueAfter is EASEL_RESCUE_AFTER's floor: jobs time out at half of
// it, and a call to fal with its record must fit in that.
const minRescueAfter = 5 * time.Second

// checkDatabaseURL parses DATABASE_URL as easel serve's pool does, so that
// a bad one stops start-up with an error naming the variable rather than
// when the first connection is attempted. pgx's error quotes the string,
// masking passwords only as well as it can read a string it could not
// parse, so only its reason is kept.
func checkDatabaseURL(databaseURL string) error {
	_, err := pgxpool.ParseConfig(databaseURL)
	if err == nil {
		return nil
	}
	reason := "it cannot be parsed"
	var parseErr *pgconn.ParseConfigError
	if errors.As(err, &parseErr) {
		// Error quotes ConnString, masked; without it, only the reason.
		parseErr.ConnString = ""
		reason = strings.TrimPrefix(parseErr.Error(), "cannot parse ``: ")
	}
	return fmt.Errorf("DATABASE_URL: not a Postgres URL (postgres://user:password@host:5432/easel) or keyword/value string: %s (the value is not shown: it may hold a password)", reason)
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
		return errors.New("EASEL_PUBLIC_URL: must be set with --role worker: it names the processes that receive fal's webhooks, and a worker does not")
	case c.PublicURL == "" && remote:
		return errors.New("EASEL_PUBLIC_URL: must be set when FAL_KEY is set: fal delivers every result to it, so it must be a URL fal can reach")
	case c.PublicURL != "" && remote && !reachableFromFal(c.PublicURL):
		return fmt.Errorf("EASEL_PUBLIC_URL: %q is a loopback or unspecified address, which fal cannot reach to deliver results", c.PublicURL)
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

// LocalURL is the base URL at which a process on this host reaches a
// server listening on addr, a host:port such as EASEL_ADDR: an empty or
// unspecified host (0.0.0.0, ::) becomes 127.0.0.1, which Go's dual-stack
// listeners accept. An addr that is not host:port, which easel serve
// refuses, is kept as it is, to show what was configured.
func LocalURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// listenerURL is LocalURL for a live listener's address.
func listenerURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	return LocalURL(net.JoinHostPort(tcp.IP.String(), strconv.Itoa(tcp.Port)))
}
