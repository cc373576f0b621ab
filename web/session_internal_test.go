package web

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/":                        "/",
		"/generations/x?status=ok": "/generations/x?status=ok",
		"":                         "/",
		"https://evil.example/":    "/",
		"//evil.example/x":         "/",
		"/\\evil.example":          "/",
		"javascript:alert(1)":      "/",
		"/a\r\nSet-Cookie: x=y":    "/",
		"relative/path":            "/",
	} {
		require.Equal(t, want, localPath(in), in)
	}
}
