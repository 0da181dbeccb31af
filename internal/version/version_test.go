package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func buildInfo(mainVersion string, settings ...string) *debug.BuildInfo {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/gatehouse-id/gatehouse", Version: mainVersion}}
	for i := 0; i+1 < len(settings); i += 2 {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
	}
	return bi
}

func TestResolve(t *testing.T) {
	const rev = "0123456789abcdef0123456789abcdef01234567"
	cases := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"nothing known", "", "", "", nil,
			Info{Version: "devel", Commit: "unknown", Date: "unknown"}},
		{"devel module, no VCS", "", "", "", buildInfo("(devel)"),
			Info{Version: "devel", Commit: "unknown", Date: "unknown"}},
		{"from the checkout", "", "", "", buildInfo("v0.1.1-0.20260101000000-0123456789ab+dirty", "vcs", "git", "vcs.revision", rev, "vcs.time", "2026-01-01T00:00:00Z", "vcs.modified", "true"),
			Info{Version: "v0.1.1-0.20260101000000-0123456789ab+dirty", Commit: rev, Date: "2026-01-01T00:00:00Z", DateIsCommitTime: true, Modified: true}},
		{"linker wins", "v0.1.0", "fedcba9876543210", "2026-02-02T10:00:00Z", buildInfo("(devel)", "vcs.revision", rev, "vcs.time", "2026-01-01T00:00:00Z", "vcs.modified", "true"),
			Info{Version: "v0.1.0", Commit: "fedcba9876543210", Date: "2026-02-02T10:00:00Z"}},
		{"linker names the version only", "v0.1.0", "", "", buildInfo("(devel)", "vcs.revision", rev, "vcs.time", "2026-01-01T00:00:00Z", "vcs.modified", "false"),
			Info{Version: "v0.1.0", Commit: rev, Date: "2026-01-01T00:00:00Z", DateIsCommitTime: true}},
	}
	for _, c := range cases {
		got := resolve(c.version, c.commit, c.date, c.bi)
		got.GoVersion, got.Platform = "", ""
		if got != c.want {
			t.Errorf("%s:\n got %+v\nwant %+v", c.name, got, c.want)
		}
	}
}

func TestStrings(t *testing.T) {
	i := Info{Version: "v0.1.0", Commit: "0123456789abcdef0123", Date: "2026-02-02T10:00:00Z", Modified: true, GoVersion: "go1.26.8", Platform: "linux/amd64"}
	if got, want := i.String(), "gatehouse v0.1.0 (commit 0123456789ab-dirty, built 2026-02-02T10:00:00Z, go1.26.8, linux/amd64)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	long := i.Long()
	for _, want := range []string{"version:   v0.1.0\n", "commit:    0123456789abcdef0123 (modified)\n", "built:     2026-02-02T10:00:00Z\n", "go:        go1.26.8\n"} {
		if !strings.Contains(long, want) {
			t.Errorf("Long() lacks %q:\n%s", want, long)
		}
	}
	if got := (Info{Commit: "unknown"}).ShortCommit(); got != "unknown" {
		t.Errorf("ShortCommit of unknown = %q", got)
	}
}
