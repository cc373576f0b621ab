// Package api serves Easel's /v1 HTTP API: enqueueing generations and
// reading them back.
package api
