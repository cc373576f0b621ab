package serve

import "github.com/easelhq/easel/internal/buildinfo"

// buildAttrs are the log attributes saying which build of easel runs, as
// easel version prints it, so that a container's logs say which it was:
// version, and the commit it was built from when Go recorded one, with
// modified when the tree had uncommitted changes.
func buildAttrs(info buildinfo.Info) []any {
	attrs := []any{"version", info.Version}
	if info.Revision != "" {
		attrs = append(attrs, "revision", info.Revision)
		if info.Modified {
			attrs = append(attrs, "modified", true)
		}
	}
	return attrs
}
