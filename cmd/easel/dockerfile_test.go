package main

import (
	"os"
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
