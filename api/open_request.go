package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/easelhq/easel/internal/apierror"
)

// openCrossOrigin is the check of Sec-Fetch-Site, else Origin against Host,
// that the gallery applies to a session cookie's state-changing requests.
var openCrossOrigin = http.NewCrossOriginProtection()

// checkOpenRequest refuses a keyless request the open API must not take,
// though it reached a loopback listener: any page the developer's browser
// has open can send one.
//
// Its Host must be localhost or a loopback address. A page whose own name
// an attacker re-points at 127.0.0.1 (DNS rebinding) is same-origin with
// itself, so the browser lets it read the answers; its requests still carry
// its name as Host. And a request that changes something must not come from
// another site: a form or a text/plain fetch needs no CORS preflight, so a
// page could otherwise cancel, retry or delete jobs in River UI, or cancel
// generations. GET, HEAD and OPTIONS change nothing, and what another site
// sends with them it cannot read.
func checkOpenRequest(req *http.Request) error {
	if !loopbackHost(req.Host) {
		return apierror.New(http.StatusForbidden, "host_not_allowed",
			"without an API key, Easel answers only requests addressed to localhost or a loopback address, "+
				loopbackExamples(req)+": create a key with `easel keys create NAME` to reach it by another name")
	}
	if err := openCrossOrigin.Check(req); err != nil {
		return apierror.New(http.StatusForbidden, "cross_origin",
			"cross-origin request refused: another site's page cannot change anything here")
	}
	return nil
}

// loopbackExamples names the URLs that would have been answered, on the
// port Easel really listens on: EASEL_ADDR need not be the default 8080. The
// connection's local address is that of the (loopback) listener; a request's
// Host port may be a proxy's, so it is used only when the local address is
// unknown.
func loopbackExamples(req *http.Request) string {
	ip, port := "127.0.0.1", ""
	if addr, ok := req.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if h, p, err := net.SplitHostPort(addr.String()); err == nil {
			port = p
			if a, err := netip.ParseAddr(h); err == nil && a.Unmap().IsLoopback() {
				ip = a.Unmap().String()
			}
		}
	}
	if port == "" {
		if _, p, err := net.SplitHostPort(req.Host); err == nil {
			port = p
		}
	}
	if port == "" {
		return "such as http://127.0.0.1 or http://localhost with the port Easel listens on"
	}
	return "such as http://" + net.JoinHostPort(ip, port) + " or http://" + net.JoinHostPort("localhost", port)
}

// loopbackHost reports whether hostport, a request's Host, names this host:
// localhost or a loopback address, with or without a port.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
