// Package web serves Easel's gallery: GET / lists recent generations with a
// thumbnail, status, client, time to complete and NSFW flag; GET
// /generations/{id} shows one generation in full with a timeline of what
// happened to it. Pages are rendered on the server with html/template; the
// stylesheet and the one small script are embedded in the binary and served
// from /static/, and a Content-Security-Policy forbids everything else, so
// the gallery loads nothing from a CDN and runs no inline script.
//
// # Access
//
// The gallery shows prompts and images, so it admits exactly whom the /v1
// API admits (the RequireKey middleware it is given): anyone while the API is
// open (easel serve's in-process simulator on a loopback address, before the
// first API key exists, to requests addressed to localhost or a loopback
// address and not sent by another site's page), or a request
// carrying a valid Bearer key. Browsers cannot send a Bearer header from a
// link, so a person signs in once at /login with an API key; Easel then
// stores the SHA-256 of a random session token in web_sessions and hands the
// token to the browser in an HttpOnly, SameSite=Lax cookie (Secure over
// HTTPS, or whenever Easel's public URL is https). A session lasts SessionTTL and ends early when its key is revoked
// or the person signs out. Any valid key may see every generation, as with
// the API. RequireSession, the middleware that admits all this, also guards
// River UI at /riverui/, so that one sign-in opens both; a request the
// cookie admits may change something only from Easel's own origin.
//
// # Live updates
//
// A generation's page updates by itself while the generation is pending:
// the script polls GET /generations/{id}/state about once a second while
// the tab is visible, and reloads the page when the status changes, or
// fal's status of the request or its queue position does (which may be all
// that changes for minutes while fal holds it), so the timeline and images
// are always rendered by the server. Smaller changes
// (a webhook noted, a submit retried) wait for that reload, since each
// reload loses the reader's focus, open sections and revealed images. The
// /v1 long poll would not do: it answers only when the generation
// finishes, so the page would miss the submission, and it wants a Bearer
// key where the page has a session cookie. Without JavaScript the page
// offers a Refresh link rather than refreshing itself under the reader.
package web
