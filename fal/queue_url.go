package fal

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// queueURL returns where to send op's call ("status", "result", "cancel")
// for raw, a URL fal returned or RequestURLs built. The key goes only to
// the queue host: a URL on it is used as it is, and any other is replaced
// by the URL RequestURLs builds on the queue host from the endpoint and
// request id in its path. fal returns its URLs on a host of its choosing
// (its backup host queue.falrun.com, an explicit port), and refusing them
// would stop polling and cancelling the request for good, leaving a result
// fal bills for never fetched. A URL whose path is not fal's layout for op
// (see onQueueHost) is refused: a request guessed from it could be another
// one, and what fal says of that one (404: not found) would be taken for
// this one's answer.
func (c *Client) queueURL(op, raw string) (*url.URL, error) {
	if c.baseErr != nil {
		return nil, c.baseErr
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidRequest, err)
	}
	if sameOrigin(u, c.base) {
		return u, nil
	}
	rebuilt, ok := c.onQueueHost(op, u)
	if !ok {
		return nil, fmt.Errorf("%w: URL %q is not on the queue host %s, and names no request to ask it about",
			ErrInvalidRequest, u.Redacted(), c.base.Host)
	}
	// The host alone: the rest of the URL names the request, which the
	// caller's own lines name.
	offHost := u.Scheme + "://" + u.Host
	if n, since, ok := c.offHost.Allow(offHost); ok {
		c.logger.Warn("fal returned a URL off the queue host; the key is not sent there, the request is asked about on the queue host instead",
			"op", op, "url_host", offHost, "queue_host", c.base.Scheme+"://"+c.base.Host, "calls", n, "since", since)
	}
	return rebuilt, nil
}

// sameOrigin reports whether u is on base's scheme, host and port, a
// port left out being its scheme's default.
func sameOrigin(u, base *url.URL) bool {
	return strings.EqualFold(u.Scheme, base.Scheme) &&
		strings.EqualFold(u.Hostname(), base.Hostname()) &&
		portOf(u) == portOf(base)
}

// portOf is u's port, or its scheme's default port when it gives none.
func portOf(u *url.URL) string {
	if port := u.Port(); port != "" {
		return port
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// opSuffix is the last path segment of op's URL after the request id:
// none for the result (the response URL).
var opSuffix = map[string]string{"status": "status", "cancel": "cancel", "result": ""}

// onQueueHost returns the URL RequestURLs builds for op on the queue host
// from u's path, and whether u's path is fal's layout for op:
// {owner}/{app}[/{path}]/requests/{id}, then "/status" for a status and
// "/cancel" for a cancel, under the queue URL's own path if u's path starts
// with it. Every segment must be a plain one (see plainSegment): an escape
// that decodes to '/', '?', '#' or '%', or a "." or "..", would make the
// URL built from it name another path, another request or none, and the
// caller would take fal's answer about it (404) for this request's.
func (c *Client) onQueueHost(op string, u *url.URL) (*url.URL, bool) {
	suffix, known := opSuffix[op]
	if !known {
		return nil, false
	}
	escaped := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/"), "/")
	segments := make([]string, len(escaped))
	for i, segment := range escaped {
		s, err := url.PathUnescape(segment)
		if err != nil || !plainSegment(s) {
			return nil, false
		}
		segments[i] = s
	}
	if prefix := strings.Trim(c.base.Path, "/"); prefix != "" {
		if p := strings.Split(prefix, "/"); len(segments) > len(p) && slices.Equal(segments[:len(p)], p) {
			segments = segments[len(p):]
		}
	}
	if suffix != "" {
		if segments[len(segments)-1] != suffix {
			return nil, false
		}
		segments = segments[:len(segments)-1]
	}
	// …/{owner}/{app}[/{path}]/requests/{id}: an endpoint id has an owner
	// and an app at least.
	n := len(segments)
	if n < 4 || segments[n-2] != "requests" || slices.Contains(segments[:n-2], "requests") {
		return nil, false
	}
	status, response, cancel := c.RequestURLs(strings.Join(segments[:n-2], "/"), segments[n-1])
	target := response
	switch op {
	case "status":
		target = status
	case "cancel":
		target = cancel
	}
	rebuilt, err := url.Parse(target)
	if err != nil {
		return nil, false
	}
	return rebuilt, true
}

// plainSegment reports whether s, a path segment as decoded, is one a URL
// can be rebuilt from as it is: not empty, "." or "..", and only letters,
// digits, '-', '.', '_' and '~' (RFC 3986's unreserved characters), which
// fal's endpoint ids and request ids (UUIDs) are made of.
func plainSegment(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '-', r == '.', r == '_', r == '~':
		default:
			return false
		}
	}
	return true
}
