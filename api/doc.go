// Package api serves Easel's /v1 HTTP API: enqueueing generations, reading,
// listing and cancelling them.
//
// Handler holds the routes; Auth (RequireKey) admits callers by API key and
// names the client of what they enqueue, which a service mounting Handler
// behind its own authentication does with SetClientName; CreateKey makes
// keys, of which only a hash is stored. ServeOpenAPI serves openapi.yaml, the document of /v1,
// which the tests keep equal to the routes and to the responses.
package api
