package callbacks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"time"
	"unicode/utf8"
)

// MaxURLLength bounds a callback URL.
const MaxURLLength = 2048

// resolveTimeout bounds the DNS lookup of CheckURL, which runs while a
// caller waits for its enqueue to be answered.
const resolveTimeout = 3 * time.Second

// ErrForbiddenAddress is wrapped by the errors of CheckURL and of the
// connections of Policy.Client that are refused because the address is not
// a public one.
var ErrForbiddenAddress = errors.New("address is not public")

// Policy decides where callbacks may go.
type Policy struct {
	// AllowPrivate admits every address, loopback, private and link-local
	// ones included (EASEL_ALLOW_PRIVATE_CALLBACKS=true): for development
	// and tests.
	AllowPrivate bool
	// Allowed are ranges admitted besides the public addresses
	// (EASEL_ALLOW_PRIVATE_CALLBACKS as a list): the private network where
	// a deployment's callers live, and nothing else of it.
	Allowed []netip.Prefix
	// Resolver looks host names up; nil means net.DefaultResolver.
	Resolver *net.Resolver
}

// CheckURL reports why rawURL cannot receive callbacks, or nil. The error
// reads well after "callback_url ". The host is resolved, so that a name
// pointing into a private network is refused when the URL is given; a
// lookup that fails for a reason other than the name not existing is let
// through, since Policy.Client checks every address again when it connects.
func (p *Policy) CheckURL(ctx context.Context, rawURL string) error {
	u, err := CheckURLSyntax(rawURL)
	if err != nil {
		return err
	}
	if p.AllowPrivate {
		return nil
	}

	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if !p.admits(ip) {
			return fmt.Errorf("must not point at %s: %w", ip, ErrForbiddenAddress)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := p.resolver().LookupNetIP(ctx, "ip", host)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return fmt.Errorf("host %s does not resolve", host)
	}
	if err != nil {
		return nil
	}
	for _, ip := range ips {
		if !p.admits(ip) {
			return fmt.Errorf("host %s resolves to %s: %w", host, ip.Unmap(), ErrForbiddenAddress)
		}
	}
	return nil
}

func (p *Policy) resolver() *net.Resolver {
	if p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// allowed is checked on every address a callback connects to.
func (p *Policy) allowed(ip netip.Addr) error {
	if p.admits(ip) {
		return nil
	}
	return fmt.Errorf("connect to %s: %w", ip.Unmap(), ErrForbiddenAddress)
}

func (p *Policy) admits(ip netip.Addr) bool {
	if p.AllowPrivate || Public(ip) {
		return true
	}
	ip = ip.Unmap().WithZone("")
	for _, allowed := range p.Allowed {
		if allowed.Contains(ip) {
			return true
		}
	}
	return false
}

// globalUnicast6 is the only IPv6 range the IANA allocates for global
// unicast; everything outside it (unique local, link-local, multicast,
// IPv4-compatible and the unassigned rest) is not public.
var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// nonPublic are special-purpose ranges (IANA's registries) that the netip
// predicates below do not already cover.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("2001::/23"),       // IETF protocol assignments: Teredo, benchmarking, ORCHID
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
}

// embeddedIPv4 are IPv6 ranges that carry an IPv4 address, which is where
// a packet to them ends up.
var embeddedIPv4 = []struct {
	prefix netip.Prefix
	offset int // byte offset of the IPv4 address
}{
	{netip.MustParsePrefix("64:ff9b::/96"), 12}, // NAT64
	{netip.MustParsePrefix("2002::/16"), 2},     // 6to4
}

// Public reports whether ip is a public unicast address: not loopback,
// private (RFC 1918, unique local), link-local, multicast, unspecified or
// another special-purpose range, also when written as an IPv4-mapped, NAT64
// or 6to4 IPv6 address.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		for _, e := range embeddedIPv4 {
			if e.prefix.Contains(ip) {
				b := ip.As16()
				return Public(netip.AddrFrom4([4]byte(b[e.offset : e.offset+4])))
			}
		}
		if !globalUnicast6.Contains(ip) {
			return false
		}
	}
	if !ip.IsGlobalUnicast() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() ||
		ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// CheckURLSyntax parses rawURL and reports why it cannot be a callback URL
// whatever the addresses allowed: too long, not UTF-8, not an absolute
// http(s) URL, with user info, a fragment or an invalid port. The error
// reads well after "callback_url ".
func CheckURLSyntax(rawURL string) (*url.URL, error) {
	if len(rawURL) > MaxURLLength {
		return nil, fmt.Errorf("must be at most %d bytes", MaxURLLength)
	}
	if !utf8.ValidString(rawURL) {
		return nil, errors.New("must be valid UTF-8")
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return nil, errors.New("must be an absolute http or https URL")
	case u.User != nil:
		return nil, errors.New("must not contain a user name or password")
	case u.Fragment != "":
		return nil, errors.New("must not contain a fragment")
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("has an invalid port %q", port)
		}
	}
	return u, nil
}
