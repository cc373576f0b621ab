package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The image is built with go.mod's Go: the official golang images set
// GOTOOLCHAIN=local, so they neither fetch the Go that go.mod asks for nor
// build with a Go other than their own.
func TestDockerfileGoVersion(t *testing.T) {
	t.Parallel()

	goMod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	dockerfile, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)

	want := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(string(goMod))
	require.NotNil(t, want, "go.mod has a go line")
	if toolchain := regexp.MustCompile(`(?m)^toolchain go(\S+)$`).FindStringSubmatch(string(goMod)); toolchain != nil {
		want = toolchain // the Go that builds the module, when go.mod names one
	}
	got := regexp.MustCompile(`(?m)^ARG GO_VERSION=(\S+)$`).FindStringSubmatch(string(dockerfile))
	require.NotNil(t, got, "the Dockerfile has ARG GO_VERSION=")
	require.Equal(t, want[1], got[1], "Dockerfile's GO_VERSION and go.mod's Go must agree")

	froms := regexp.MustCompile(`(?m)^FROM golang:(\S+)`).FindAllStringSubmatch(string(dockerfile), -1)
	require.NotEmpty(t, froms)
	for _, from := range froms {
		require.True(t, strings.HasPrefix(from[1], "${GO_VERSION}-"), "FROM golang:%s must use GO_VERSION", from[1])
	}
}

// A plain docker run -p 8080:8080 reaches easel serve.
func TestDockerfileListensOnEveryInterface(t *testing.T) {
	t.Parallel()

	dockerfile, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	require.Regexp(t, `(?m)^ENV EASEL_ADDR=0\.0\.0\.0:8080$`, string(dockerfile))
	require.Regexp(t, `(?m)^EXPOSE 8080$`, string(dockerfile))
}

// The image says which build it is: the VERSION and REVISION build
// arguments reach easel version (and so easel serve's start-up log and
// easel_build_info) through the linker, and the image's OCI labels.
func TestDockerfileStampsTheBuild(t *testing.T) {
	t.Parallel()

	raw, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	dockerfile := strings.ReplaceAll(string(raw), "\\\n", " ") // instructions continued over lines, on one
	stages := regexp.MustCompile(`(?m)^FROM `).Split(dockerfile, -1)[1:]
	require.Len(t, stages, 2, "a build stage and the image's")
	build, image := stages[0], stages[1]
	for _, stage := range []string{build, image} {
		// An ARG is seen only in the stage that declares it.
		require.Regexp(t, `(?m)^ARG VERSION$`, stage)
		require.Regexp(t, `(?m)^ARG REVISION$`, stage)
	}
	for label, value := range map[string]string{
		"org.opencontainers.image.version":  `"${VERSION}"`,
		"org.opencontainers.image.revision": `"${REVISION}"`,
		"org.opencontainers.image.source":   `"https://github.com/easelhq/easel"`,
	} {
		require.Regexp(t, `(?m)^LABEL .*\b`+regexp.QuoteMeta(label+"="+value), image)
	}

	// The build step's own flags, with the arguments a release passes: a
	// misspelt -X target is silently ignored by the linker, so the binary
	// is built and asked.
	goBuild := regexp.MustCompile(`(?m)^RUN CGO_ENABLED=0 go build (.*) -o /out/easel \./cmd/easel$`).FindStringSubmatch(build)
	require.NotNil(t, goBuild, "the build stage's go build")
	ldflags := regexp.MustCompile(`-ldflags="([^"]*)"`).FindStringSubmatch(goBuild[1])
	require.NotNil(t, ldflags, "go build -ldflags=\"…\"")
	const version, revision = "v9.8.7-test", "0123456789abcdef0123456789abcdef01234567"
	flags := strings.NewReplacer("${VERSION}", version, "${REVISION}", revision).Replace(ldflags[1])
	bin := t.TempDir() + "/easel"
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags="+flags, "-o", bin, "./cmd/easel")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Regexp(t, `^easel `+regexp.QuoteMeta(version)+"\n", string(out))
	require.Contains(t, string(out), "  commit       "+revision+"\n")
}
