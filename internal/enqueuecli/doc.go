// Package enqueuecli is `easel enqueue`: it builds a fal-ai/fooocus/image-prompt
// input from flags (or a JSON file), posts it to an Easel server's /v1 API,
// and with --wait follows the generation to its end, showing its progress.
//
// Progress goes to stderr: on a terminal, one line redrawn with a spinner
// and the elapsed time, above which each state change stays printed; to a
// pipe or file, only the state changes, one plain line each. stdout gets
// what scripts want: the generation's id without --wait, and the image URLs,
// one per line, with it; with --output json, the generation resource as the
// API returned it last, whatever the outcome. The exit code (ExitCode) says
// what to do next: nothing, change the request, retry it with the same
// idempotency key, or change something else.
//
// Waiting asks the API about twice a second, each time with a short long
// poll (GET /v1/generations/{id}?wait=500ms), so the end of the generation
// shows at once and the states before it within half a second; a server
// without long polls answers at once and is simply asked again.
package enqueuecli
