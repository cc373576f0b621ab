package enqueuecli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultServer is where --server points when Env.Server is empty: easel
// serve's default address.
const DefaultServer = "http://127.0.0.1:8080"

// The errors Run returns are sorted by what the caller can do about them;
// ExitCode turns each into easel enqueue's exit code.
var (
	// ErrInvalidInput marks a command the caller must change before running
	// it again: bad flags, an unreadable --json file, or input the server
	// rejected with 400, 413 or 422.
	ErrInvalidInput = errors.New("invalid input")
	// ErrNoAnswer marks a request that got no definite answer: the server
	// could not be reached, did not answer in time (or within --timeout), or
	// answered 408, 429 or 5xx. Running the command again with the same
	// --idempotency-key is safe.
	ErrNoAnswer = errors.New("no definite answer")
	// ErrRefused marks a request the server refused for a reason other than
	// its input, which running it again does not change: 401, 403, 404, 409.
	ErrRefused = errors.New("refused")
	// ErrBadAnswer marks an answer that is not the API's: no generation, one
	// without an id or with an unknown status, or a replay of a request that
	// sent no idempotency key. Asking again would get the same.
	ErrBadAnswer = errors.New("not an answer of the Easel API")
	// ErrInterrupted marks a command stopped by its context: an interrupt
	// while it waited for the server, the generation going on.
	ErrInterrupted = errors.New("interrupted")
)

// easel enqueue's exit codes; see ExitCode.
const (
	ExitCompleted   = 0   // completed, or enqueued without --wait
	ExitFailed      = 1   // the generation failed or was cancelled, or any other error
	ExitInvalid     = 2   // ErrInvalidInput
	ExitNoAnswer    = 3   // ErrNoAnswer
	ExitRefused     = 4   // ErrRefused
	ExitInterrupted = 130 // ErrInterrupted, unless its cause says otherwise
)

// ExitCode is the exit code of easel enqueue for err, Run's error. An
// interrupted command exits with the code of its context's cause when that
// has an ExitCode method, as cmd/easel's signals do (130 for SIGINT, 143 for
// SIGTERM), else 130.
func ExitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return ExitCompleted
	case errors.Is(err, ErrInterrupted):
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			return coded.ExitCode()
		}
		return ExitInterrupted
	case errors.Is(err, ErrInvalidInput):
		return ExitInvalid
	case errors.Is(err, ErrNoAnswer):
		return ExitNoAnswer
	case errors.Is(err, ErrRefused):
		return ExitRefused
	}
	return ExitFailed
}

// marked is an error matching mark too, with its own message alone.
type marked struct {
	error
	mark error
}

func (e marked) Is(target error) bool { return target == e.mark }
func (e marked) Unwrap() error        { return e.error }

func mark(err, as error) error { return marked{error: err, mark: as} }

func invalid(err error) error { return mark(err, ErrInvalidInput) }

// NotCompletedError is returned with --wait when the generation failed or
// was cancelled.
type NotCompletedError struct {
	ID     string
	Status string
}

func (e *NotCompletedError) Error() string { return fmt.Sprintf("generation %s %s", e.ID, e.Status) }

// interruptedError is ErrInterrupted, wrapping the cause of the caller's
// context, which may carry the exit code.
type interruptedError struct {
	msg   string
	cause error
}

func (e *interruptedError) Error() string        { return e.msg }
func (e *interruptedError) Is(target error) bool { return target == ErrInterrupted }
func (e *interruptedError) Unwrap() error        { return e.cause }

// interrupted is ErrInterrupted for ctx, done, worded by msg from why it
// was: "interrupted", or the words of ctx's cause.
func interrupted(ctx context.Context, msg func(why string) string) error {
	cause := context.Cause(ctx)
	why := "interrupted"
	if cause != context.Canceled && cause != context.DeadlineExceeded {
		why = cause.Error()
	}
	return &interruptedError{msg: msg(why), cause: cause}
}

// Env is what the command reads and writes besides its arguments.
type Env struct {
	Stdin          io.Reader // read by --json -
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Terminal reports whether Stderr is a terminal, where progress is drawn
	// with a spinner rather than printed as plain lines.
	Terminal bool
	// HTTPClient calls the server; nil means http.DefaultClient.
	HTTPClient *http.Client
	// Server is --server's default, the base URL of the Easel server as the
	// environment configures it; empty means DefaultServer, unless
	// ServerErr is set.
	Server string
	// ServerErr, when set, is why the environment gives no usable Server,
	// naming the variable: Run returns it, as ErrInvalidInput, unless
	// --server is given.
	ServerErr error
	// RequestTimeout bounds each call to the API, beyond the long poll of
	// one made while waiting; 0 means DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Help prints the command's help, with fs's flags, to Stdout; nil
	// prints the flags alone.
	Help func(fs *flag.FlagSet)
	// CheckEnv, when set, runs once the flags are parsed and ask for no
	// help, before anything is read or sent: the caller's checks of the
	// environment, which must not stop --help.
	CheckEnv func() error
}

// Polling while waiting: each request long-polls for up to longPoll, and
// requests start at least minPollInterval apart, for servers that answer at
// once. The API's long poll returns early only when the generation finishes,
// so a short one still shows the states in between. Errors back off up to
// maxRetryInterval.
const (
	longPoll         = 500 * time.Millisecond
	minPollInterval  = 500 * time.Millisecond
	maxRetryInterval = 10 * time.Second
)

type options struct {
	server, prompt, imageURL, imageType, aspectRatio, jsonFile, idempotencyKey string
	numImages                                                                  int
	styles                                                                     []string
	wait                                                                       bool
	timeout                                                                    time.Duration
	output                                                                     outputFormat
	set                                                                        map[string]bool // flags given on the command line
}

// outputFormat is --output: what stdout gets.
type outputFormat string

const (
	outputText outputFormat = "text" // the id, or with --wait the image URLs
	outputJSON outputFormat = "json" // the generation resource
)

func (f *outputFormat) String() string { return string(*f) }

func (f *outputFormat) Set(s string) error {
	switch outputFormat(s) {
	case outputText, outputJSON:
		*f = outputFormat(s)
		return nil
	}
	return errors.New("must be text or json")
}

// errWaitTimeout ends a wait that --timeout bounds.
var errWaitTimeout = errors.New("--timeout")

// Run runs `easel enqueue` with args (the arguments after "enqueue").
func Run(ctx context.Context, args []string, env Env) error {
	opts, err := parseFlags(args, env)
	if err != nil {
		return err
	}
	if env.CheckEnv != nil {
		if err := env.CheckEnv(); err != nil {
			return err
		}
	}
	if env.ServerErr != nil && !opts.set["server"] {
		return invalid(fmt.Errorf("%w; fix it, or give --server", env.ServerErr))
	}
	input, err := buildInput(opts, env.Stdin)
	if err != nil {
		return err
	}
	base, err := serverURL(opts.server)
	if err != nil {
		return err
	}
	httpClient := env.HTTPClient
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	c := &client{base: base, apiKey: strings.TrimSpace(env.Getenv("EASEL_API_KEY")), http: httpClient,
		timeout: cmp.Or(env.RequestTimeout, DefaultRequestTimeout)}

	start := time.Now()
	g, created, err := c.create(ctx, input, opts.idempotencyKey)
	if err != nil && ctx.Err() != nil {
		return interrupted(ctx, func(why string) string {
			return "enqueue: " + why + " before the server answered; " + retryHint(opts.idempotencyKey)
		})
	}
	if err != nil {
		return err
	}
	link := base + "/generations/" + g.ID
	verb := "enqueued"
	if !created {
		verb = "already enqueued with this idempotency key:"
	}
	if !opts.wait {
		fmt.Fprintf(env.Stderr, "%s %s (%s)\ngallery: %s\n", verb, g.ID, g.Status, link)
		if opts.output == outputJSON {
			return writeResource(env.Stdout, g)
		}
		_, err := fmt.Fprintln(env.Stdout, g.ID)
		return err
	}

	fmt.Fprintf(env.Stderr, "%s %s\n", verb, g.ID)
	waitCtx, cancel := ctx, context.CancelFunc(func() {})
	if opts.timeout > 0 {
		waitCtx, cancel = context.WithTimeoutCause(ctx, opts.timeout, errWaitTimeout)
	}
	defer cancel()
	p := newProgress(env.Stderr, env.Terminal, start)
	g, err = follow(waitCtx, c, g, p)
	p.close()
	if opts.output == outputJSON {
		// Whatever the outcome, the last state seen: a script finds the
		// id in it, and whether the generation finished.
		if err := writeResource(env.Stdout, g); err != nil {
			return err
		}
	}
	switch {
	case ctx.Err() != nil:
		return interrupted(ctx, func(why string) string {
			return fmt.Sprintf("stopped waiting (%s); generation %s goes on: %s", why, g.ID, link)
		})
	case err != nil && context.Cause(waitCtx) == errWaitTimeout:
		again := fmt.Sprintf("GET %s/v1/generations/%s?wait=30s says when it ends", base, g.ID)
		if opts.idempotencyKey != "" {
			again = "run the same command again to wait more (its --idempotency-key finds the generation)"
		}
		return mark(fmt.Errorf("gave up waiting after %s (--timeout), the generation %s; it goes on: %s, or follow it at %s",
			opts.timeout, stateLine(g), again, link), ErrNoAnswer)
	case err != nil:
		return err
	}
	fmt.Fprintf(env.Stderr, "gallery: %s\n", link)
	if g.Status != "completed" {
		return &NotCompletedError{ID: g.ID, Status: g.Status}
	}
	if opts.output == outputJSON {
		return nil
	}
	for _, im := range g.Images {
		fmt.Fprintln(env.Stdout, im.URL)
	}
	return nil
}

// writeResource prints g as the API returned it, on one line.
func writeResource(w io.Writer, g *generation) error {
	_, err := fmt.Fprintf(w, "%s\n", g.raw)
	return err
}

// follow polls the generation until it is terminal, reporting each change.
// It returns the last generation it saw, also with an error.
func follow(ctx context.Context, c *client, g *generation, p *progress) (*generation, error) {
	p.update(g)
	retry := time.Second
	for !g.terminal() {
		next := time.Now().Add(minPollInterval)
		got, err := c.get(ctx, g.ID, longPoll)
		switch {
		case err == nil:
			g, retry = got, time.Second
			p.update(g)
		case ctx.Err() != nil:
			return g, ctx.Err()
		case retryable(err):
			p.note(fmt.Sprintf("%v; retrying in %s", err, retry))
			next = time.Now().Add(retry)
			retry = min(2*retry, maxRetryInterval)
		default:
			return g, err
		}
		if g.terminal() {
			break
		}
		timer := time.NewTimer(time.Until(next))
		select {
		case <-ctx.Done():
			timer.Stop()
			return g, ctx.Err()
		case <-timer.C:
		}
	}
	return g, nil
}

func parseFlags(args []string, env Env) (options, error) {
	o := options{output: outputText}
	server := env.Server
	if server == "" && env.ServerErr == nil {
		server = DefaultServer
	}
	fs := flag.NewFlagSet("enqueue", flag.ContinueOnError)
	// The flag package would print its error and then the usage to stderr;
	// the error is returned instead, and the help printed only when asked.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.server, "server", server, "base `URL` of the Easel server")
	fs.StringVar(&o.prompt, "prompt", "", "the prompt")
	fs.StringVar(&o.imageURL, "image-url", "", "the reference image (image_prompt_1.image_url): an http(s) `URL`")
	fs.StringVar(&o.imageType, "type", "", "how the reference image steers: ImagePrompt, PyraCanny, CPDS or FaceSwap")
	fs.IntVar(&o.numImages, "num-images", 0, "how many images, 1 to 4")
	fs.StringVar(&o.aspectRatio, "aspect-ratio", "", "the image size, `WIDTHxHEIGHT`, e.g. 1024x1024")
	fs.Func("style", "a Fooocus `style`; repeat for several (replaces the default styles)", func(s string) error {
		o.styles = append(o.styles, s)
		return nil
	})
	fs.StringVar(&o.jsonFile, "json", "", "a `file` holding the whole input as a JSON object (- for stdin); for JSON on stdout,\nsee --output")
	fs.StringVar(&o.idempotencyKey, "idempotency-key", "", "makes retrying this command safe: the same `key` returns the same generation")
	fs.BoolVar(&o.wait, "wait", false, "wait until the generation finishes, showing its progress; exit 1 unless it completed")
	fs.DurationVar(&o.timeout, "timeout", 0, "with --wait, the most to wait, such as 10m; then exit 3, the generation going\non (0: no limit)")
	fs.Var(&o.output, "output", "the `format` of stdout: text (the id; with --wait, the image URLs) or json\n(the generation as the API returns it, on one line, whatever the outcome)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			if env.Help != nil {
				env.Help(fs)
			} else {
				fs.SetOutput(env.Stdout)
				fs.PrintDefaults()
			}
			return o, err
		}
		return o, usage(err)
	}
	if fs.NArg() > 0 {
		return o, usage(fmt.Errorf("unexpected argument %q (quote the prompt: --prompt \"...\")", fs.Arg(0)))
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	switch {
	case o.timeout < 0:
		return o, usage(fmt.Errorf("invalid value %q for flag -timeout: must be 0 or more", o.timeout))
	case o.set["timeout"] && !o.wait:
		return o, usage(errors.New("--timeout bounds the wait: give --wait too"))
	}
	if o.set["idempotency-key"] {
		if err := checkIdempotencyKey(o.idempotencyKey); err != nil {
			return o, usage(err)
		}
	}
	return o, nil
}

// usage is ErrInvalidInput for a mistake in the flags, pointing to the help.
func usage(err error) error {
	return invalid(fmt.Errorf("%w; run 'easel enqueue --help' for usage", err))
}

// checkIdempotencyKey refuses a key that could not reach the server as
// given: a key given empty, which sent as no key would make a retry enqueue
// again, and one HTTP would change or could not carry.
func checkIdempotencyKey(key string) error {
	switch {
	case strings.TrimSpace(key) == "":
		return errors.New("--idempotency-key is empty: give a key, or leave the flag out")
	case strings.TrimSpace(key) != key:
		return fmt.Errorf("--idempotency-key %q starts or ends with whitespace, which HTTP drops", key)
	}
	for i, r := range key {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("--idempotency-key has a control character at byte %d, which an HTTP header cannot carry", i+1)
		}
	}
	return nil
}

// buildInput merges the flags into the --json input, if any. It leaves
// validation to the server, which names every invalid field at once.
func buildInput(o options, stdin io.Reader) ([]byte, error) {
	fields := map[string]json.RawMessage{}
	if o.jsonFile != "" {
		var raw []byte
		var err error
		if o.jsonFile == "-" {
			raw, err = io.ReadAll(stdin)
		} else {
			raw, err = os.ReadFile(o.jsonFile)
		}
		if err != nil {
			return nil, invalid(fmt.Errorf("--json: %w", err))
		}
		if fields, err = jsonObject(raw); err != nil {
			return nil, invalid(fmt.Errorf("--json %s: %w", o.jsonFile, err))
		}
	}
	set := func(field string, v any) {
		b, _ := json.Marshal(v) // strings, ints and string slices always marshal
		fields[field] = b
	}
	if o.set["prompt"] {
		set("prompt", o.prompt)
	}
	if o.set["num-images"] {
		set("num_images", o.numImages)
	}
	if o.set["aspect-ratio"] {
		set("aspect_ratio", o.aspectRatio)
	}
	if len(o.styles) > 0 {
		set("styles", o.styles)
	}
	if o.set["image-url"] || o.set["type"] {
		prompt := map[string]json.RawMessage{}
		if raw, ok := fields["image_prompt_1"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &prompt); err != nil || prompt == nil {
				return nil, invalid(fmt.Errorf("--json %s: image_prompt_1 is not a JSON object", o.jsonFile))
			}
		}
		if o.set["image-url"] {
			prompt["image_url"], _ = json.Marshal(o.imageURL)
		}
		if o.set["type"] {
			prompt["type"], _ = json.Marshal(o.imageType)
		}
		set("image_prompt_1", prompt)
	}
	if len(fields) == 0 {
		return nil, invalid(errors.New("nothing to enqueue: give --prompt and --image-url, or --json FILE"))
	}
	return json.Marshal(fields)
}

// jsonObject reads raw as a JSON object; its error says where the JSON
// breaks, or what raw holds instead.
func jsonObject(raw []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 {
		return nil, errors.New("empty, where a JSON object was expected")
	}
	var fields map[string]json.RawMessage
	err := json.Unmarshal(raw, &fields)
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		// Offset counts the bytes read up to and including the one that
		// broke the JSON, or all of them when it ended too soon: then the
		// place to look is the last one that is not white space.
		offset := min(int(syntaxErr.Offset), len(bytes.TrimRight(raw, " \t\r\n")))
		line := bytes.Count(raw[:offset], []byte("\n")) + 1
		column := offset - (bytes.LastIndexByte(raw[:offset], '\n') + 1)
		return nil, fmt.Errorf("not valid JSON: %v at line %d, column %d (byte %d)", err, line, column, offset)
	}
	if err != nil || fields == nil {
		kinds := map[byte]string{'[': "an array", '"': "a string", 't': "a boolean", 'f': "a boolean", 'n': "null"}
		kind, ok := kinds[trimmed[0]]
		if !ok {
			kind = "a number"
		}
		return nil, fmt.Errorf("not a JSON object but %s", kind)
	}
	return fields, nil
}

func serverURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", invalid(fmt.Errorf("--server %q is not an http(s) URL", s))
	}
	return strings.TrimRight(u.String(), "/"), nil
}
