package enqueuecli

import (
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

// ErrInvalidInput marks a command the caller must change before running it
// again: bad flags, an unreadable --json file, or input the server rejected
// with 400 or 422.
var ErrInvalidInput = errors.New("invalid input")

// NotCompletedError is returned with --wait when the generation failed or
// was cancelled.
type NotCompletedError struct {
	ID     string
	Status string
}

func (e *NotCompletedError) Error() string { return fmt.Sprintf("generation %s %s", e.ID, e.Status) }

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
	// environment configures it; empty means DefaultServer.
	Server string
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
	set                                                                        map[string]bool // flags given on the command line
}

// Run runs `easel enqueue` with args (the arguments after "enqueue").
func Run(ctx context.Context, args []string, env Env) error {
	opts, err := parseFlags(args, env, cmp.Or(env.Server, DefaultServer))
	if err != nil {
		return err
	}
	if env.CheckEnv != nil {
		if err := env.CheckEnv(); err != nil {
			return err
		}
	}
	input, err := buildInput(opts, env.Stdin)
	if err != nil {
		return err
	}
	base, err := serverURL(opts.server)
	if err != nil && !opts.set["server"] {
		return fmt.Errorf("%w: the default, from EASEL_PUBLIC_URL or EASEL_ADDR; fix them or give --server", err)
	}
	if err != nil {
		return err
	}
	httpClient := env.HTTPClient
	if httpClient == nil {
		httpClient = http.DefaultClient
	}
	c := &client{base: base, apiKey: strings.TrimSpace(env.Getenv("EASEL_API_KEY")), http: httpClient}

	start := time.Now()
	g, created, err := c.create(ctx, input, opts.idempotencyKey)
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
		fmt.Fprintln(env.Stdout, g.ID)
		return nil
	}

	fmt.Fprintf(env.Stderr, "%s %s\n", verb, g.ID)
	p := newProgress(env.Stderr, env.Terminal, start)
	g, err = follow(ctx, c, g, p)
	p.close()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("stopped waiting; generation %s goes on: %s", g.ID, link)
		}
		return err
	}
	fmt.Fprintf(env.Stderr, "gallery: %s\n", link)
	if g.Status != "completed" {
		return &NotCompletedError{ID: g.ID, Status: g.Status}
	}
	for _, im := range g.Images {
		fmt.Fprintln(env.Stdout, im.URL)
	}
	return nil
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

func parseFlags(args []string, env Env, server string) (options, error) {
	var o options
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
	fs.StringVar(&o.jsonFile, "json", "", "a `file` holding the whole input as a JSON object (- for stdin)")
	fs.StringVar(&o.idempotencyKey, "idempotency-key", "", "makes retrying this command safe: the same `key` returns the same generation")
	fs.BoolVar(&o.wait, "wait", false, "wait until the generation finishes, showing its progress; exit 1 unless it completed")
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
		return o, invalidInput{fmt.Errorf("%w; run 'easel enqueue --help' for usage", err)}
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected argument %q (quote the prompt: --prompt \"...\")", ErrInvalidInput, fs.Arg(0))
	}
	o.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { o.set[f.Name] = true })
	return o, nil
}

// invalidInput is ErrInvalidInput with err's message alone.
type invalidInput struct{ error }

func (e invalidInput) Is(target error) bool { return target == ErrInvalidInput }
func (e invalidInput) Unwrap() error        { return e.error }

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
			return nil, fmt.Errorf("%w: --json: %w", ErrInvalidInput, err)
		}
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return nil, fmt.Errorf("%w: --json %s: not a JSON object", ErrInvalidInput, o.jsonFile)
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
				return nil, fmt.Errorf("%w: --json %s: image_prompt_1 is not a JSON object", ErrInvalidInput, o.jsonFile)
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
		return nil, fmt.Errorf("%w: nothing to enqueue: give --prompt and --image-url, or --json FILE", ErrInvalidInput)
	}
	return json.Marshal(fields)
}

func serverURL(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: --server %q is not an http(s) URL", ErrInvalidInput, s)
	}
	return strings.TrimRight(u.String(), "/"), nil
}
