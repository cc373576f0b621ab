package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// help is a command's --help, which every command prints in the same shape,
// on stdout: a usage line, a paragraph saying what the command does, its
// subcommands or flags, and the environment variables it reads.
type help struct {
	usage    string      // what follows "usage: easel "
	about    string      // one paragraph
	commands [][2]string // subcommands and what they do, for commands taking words
	env      [][2]string // variables and what the command takes from them
	footer   string      // a last paragraph, such as where to read more
}

// write prints h, with fs's flags if any (fs may be nil).
func (h help) write(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "usage: easel %s\n\n%s\n", h.usage, strings.TrimSpace(h.about))
	if len(h.commands) > 0 {
		fmt.Fprint(w, "\ncommands:\n")
		writeTable(w, h.commands)
	}
	if hasFlags(fs) {
		fmt.Fprint(w, "\nflags:\n")
		writeFlags(w, fs)
	}
	if len(h.env) > 0 {
		fmt.Fprint(w, "\nenvironment:\n")
		writeTable(w, h.env)
	}
	if h.footer != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(h.footer))
	}
}

func (h help) String() string {
	var b strings.Builder
	h.write(&b, nil)
	return b.String()
}

// writeTable prints rows as two aligned columns; a description may span
// lines, each continued under the first.
func writeTable(w io.Writer, rows [][2]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		lines := strings.Split(r[1], "\n")
		fmt.Fprintf(tw, "  %s\t%s\n", r[0], lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(tw, "  \t%s\n", l)
		}
	}
	tw.Flush()
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	if fs != nil {
		fs.VisitAll(func(*flag.Flag) { n++ })
	}
	return n > 0
}

// writeFlags prints fs's flags as the flag package does, but spelled with
// two dashes, as README and the errors spell them.
func writeFlags(w io.Writer, fs *flag.FlagSet) {
	var b bytes.Buffer
	out := fs.Output()
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(out)
	for line := range strings.Lines(b.String()) {
		if rest, ok := strings.CutPrefix(line, "  -"); ok {
			line = "  --" + rest
		}
		fmt.Fprint(w, line)
	}
}

// newFlagSet returns an empty flag set for the command name that prints
// nothing itself: parseFlags prints the help, and the errors, once each.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parseFlags parses args into fs, a newFlagSet, for a command that takes
// only flags. Asked for help, it prints h to stdout and returns
// flag.ErrHelp; a bad flag, or an argument that is not one, is a usage
// error of one line pointing to the help.
func parseFlags(fs *flag.FlagSet, h help, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		h.write(stdout, fs)
		return err
	}
	if err != nil {
		return flagError(fs.Name(), err)
	}
	return noArgs(fs.Name(), fs)
}

// flagError is a usage error about the command's flags, err as the flag
// package words it ("invalid value "2" for flag -fail-rate: …"), which names
// the flag.
func flagError(cmd string, err error) error {
	return usageError{fmt.Errorf("%w; %s", err, seeHelp(cmd))}
}

func seeHelp(cmd string) string {
	cmd, _, _ = strings.Cut(cmd, " ") // "migrate up" has its help at "migrate"
	return fmt.Sprintf("run 'easel %s --help' for usage", cmd)
}
