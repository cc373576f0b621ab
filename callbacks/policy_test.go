package callbacks_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/easelhq/easel/callbacks"
)

func TestPublic(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]bool{
		"8.8.8.8":                true,
		"172.32.0.1":             true,
		"100.128.0.1":            true,
		"2606:4700:4700::1111":   true,
		"::ffff:8.8.8.8":         true,
		"64:ff9b::808:808":       true, // NAT64 of 8.8.8.8
		"2002:808:808::1":        true, // 6to4 of 8.8.8.8
		"127.0.0.1":              false,
		"127.255.0.9":            false,
		"10.1.2.3":               false,
		"172.16.0.1":             false,
		"192.168.1.1":            false,
		"169.254.169.254":        false, // cloud metadata
		"100.64.0.1":             false,
		"0.0.0.0":                false,
		"0.1.2.3":                false,
		"255.255.255.255":        false,
		"224.0.0.1":              false,
		"198.18.0.1":             false,
		"203.0.113.7":            false,
		"240.0.0.1":              false,
		"::":                     false,
		"::1":                    false,
		"::8.8.8.8":              false, // IPv4-compatible, deprecated
		"fe80::1":                false,
		"fe80::1%eth0":           false,
		"fc00::1":                false,
		"fd00:ec2::254":          false, // cloud metadata over IPv6
		"fec0::1":                false,
		"ff02::1":                false,
		"4000::1":                false, // not allocated for unicast
		"2001:db8::1":            false,
		"2001:0:4136:e378::1":    false, // Teredo
		"::ffff:127.0.0.1":       false, // IPv4-mapped
		"::ffff:169.254.169.254": false,
		"64:ff9b::a00:1":         false, // NAT64 of 10.0.0.1
		"2002:c0a8:101::1":       false, // 6to4 of 192.168.1.1
		"2002:7f00:1::":          false, // 6to4 of 127.0.0.1
	} {
		ip := netip.MustParseAddr(addr)
		require.Equal(t, want, callbacks.Public(ip), addr)
	}
}

// internalNets are a deployment's own private ranges, allowed besides the
// public addresses.
var internalNets = []netip.Prefix{netip.MustParsePrefix("10.20.0.0/16"), netip.MustParsePrefix("fd12:3456::/32")}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	// No DNS server here: lookups of names outside /etc/hosts fail with a
	// temporary error, which CheckURL lets through to the connect-time check.
	offline := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}

	for _, tt := range []struct {
		name         string
		url          string
		allowPrivate bool
		allowed      []netip.Prefix
		wantErr      string
		forbidden    bool
	}{
		{name: "public IP", url: "https://8.8.8.8/hook"},
		{name: "public IPv6", url: "https://[2606:4700:4700::1111]:8443/hook?token=x"},
		{name: "name, lookup unavailable", url: "https://hooks.example.com/easel"},
		{name: "ftp", url: "ftp://8.8.8.8/hook", wantErr: "absolute http or https URL"},
		{name: "relative", url: "/hook", wantErr: "absolute http or https URL"},
		{name: "no host", url: "https:///hook", wantErr: "absolute http or https URL"},
		{name: "opaque", url: "http:8.8.8.8", wantErr: "absolute http or https URL"},
		{name: "not a URL", url: "http://[::1", wantErr: "absolute http or https URL"},
		{name: "user info", url: "https://user:pass@8.8.8.8/hook", wantErr: "user name or password"},
		{name: "fragment", url: "https://8.8.8.8/hook#x", wantErr: "fragment"},
		{name: "port zero", url: "https://8.8.8.8:0/hook", wantErr: "invalid port"},
		{name: "port too large", url: "https://8.8.8.8:70000/hook", wantErr: "invalid port"},
		{name: "too long", url: "https://8.8.8.8/" + string(make([]byte, callbacks.MaxURLLength)), wantErr: "at most 2048 bytes"},
		{name: "loopback", url: "http://127.0.0.1:8080/hook", wantErr: "must not point at 127.0.0.1", forbidden: true},
		{name: "metadata", url: "http://169.254.169.254/latest/meta-data", wantErr: "must not point at 169.254.169.254", forbidden: true},
		{name: "private", url: "http://10.0.0.7/hook", wantErr: "must not point at 10.0.0.7", forbidden: true},
		{name: "IPv6 loopback", url: "http://[::1]/hook", wantErr: "must not point at ::1", forbidden: true},
		{name: "mapped loopback", url: "http://[::ffff:127.0.0.1]/hook", wantErr: "address is not public", forbidden: true},
		{name: "name of a loopback address", url: "http://localhost:9000/hook", wantErr: "host localhost resolves to", forbidden: true},
		{name: "loopback allowed", url: "http://127.0.0.1:8080/hook", allowPrivate: true},
		{name: "name allowed", url: "http://localhost:9000/hook", allowPrivate: true},
		{name: "allowed is still http only", url: "file:///etc/passwd", allowPrivate: true, wantErr: "absolute http or https URL"},
		{name: "in an allowed range", url: "http://10.20.3.4:8080/hook", allowed: internalNets},
		{name: "in an allowed range, IPv6", url: "http://[fd12:3456::9]/hook", allowed: internalNets},
		{name: "in an allowed range, IPv4-mapped", url: "http://[::ffff:10.20.3.4]/hook", allowed: internalNets},
		{name: "public beside allowed ranges", url: "https://8.8.8.8/hook", allowed: internalNets},
		{name: "outside the allowed ranges", url: "http://10.21.0.1/hook", allowed: internalNets, wantErr: "must not point at 10.21.0.1", forbidden: true},
		{name: "metadata beside allowed ranges", url: "http://169.254.169.254/", allowed: internalNets, wantErr: "address is not public", forbidden: true},
		{name: "loopback beside allowed ranges", url: "http://127.0.0.1:8080/", allowed: internalNets, wantErr: "address is not public", forbidden: true},
		{name: "name of loopback beside allowed ranges", url: "http://localhost:8080/", allowed: internalNets, wantErr: "host localhost resolves to", forbidden: true},
		{name: "name of an allowed range", url: "http://localhost:8080/", allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := &callbacks.Policy{AllowPrivate: tt.allowPrivate, Allowed: tt.allowed, Resolver: offline}
			err := p.CheckURL(context.Background(), tt.url)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.Equal(t, tt.forbidden, errors.Is(err, callbacks.ErrForbiddenAddress))
		})
	}
}

// CheckURL reads URLs that callers send: whatever they send, it must not
// panic, and what it accepts is an http(s) URL to a public address.
func FuzzCheckURL(f *testing.F) {
	for _, seed := range []string{"https://8.8.8.8/hook", "http://[::ffff:127.0.0.1]:80/", "http://0x7f.1/", "https://hooks.example.com:443/a?b#c",
		"http://user@host/", "http://[fe80::1%25eth0]/", "http:opaque", "HTTP://8.8.8.8", "http://2130706433/"} {
		f.Add(seed)
	}
	offline := &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
		return nil, errors.New("no DNS in tests")
	}}
	p := &callbacks.Policy{Resolver: offline}

	f.Fuzz(func(t *testing.T, raw string) {
		if p.CheckURL(context.Background(), raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		require.NoError(t, err)
		require.Contains(t, []string{"http", "https"}, u.Scheme)
		require.Nil(t, u.User)
		if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
			require.True(t, callbacks.Public(ip), raw)
		}
	})
}
