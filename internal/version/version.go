// Package version says which build of Gatehouse is running: the version, the commit
// it was built from, when, and with which Go.
//
// A release build sets the first three with the linker:
//
//	go build -ldflags "-X github.com/gatehouse-id/gatehouse/internal/version.Version=v0.1.0 \
//	  -X github.com/gatehouse-id/gatehouse/internal/version.Commit=$(git rev-parse HEAD) \
//	  -X github.com/gatehouse-id/gatehouse/internal/version.Date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
//
// Whatever the linker leaves empty is read from the build information the Go
// toolchain records in every binary (the module version, and vcs.revision, vcs.time
// and vcs.modified when it was built inside a Git checkout). What neither knows is
// "devel" (the version) or "unknown".
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags "-X github.com/gatehouse-id/gatehouse/internal/version.NAME=VALUE".
// Variables, not constants, so the linker can set them.
var (
	Version string // a release name such as v0.1.0
	Commit  string // the Git commit
	Date    string // the build time, RFC 3339 in UTC
)

// Info describes one build.
type Info struct {
	Version string // "devel" when unknown
	Commit  string // "unknown" when unknown
	Date    string // "unknown" when unknown
	// DateIsCommitTime says Date is the commit's time from the build information
	// (vcs.time), because the linker set no build date.
	DateIsCommitTime bool
	Modified         bool   // built from a checkout with uncommitted changes
	GoVersion        string // the Go toolchain, e.g. go1.26.8
	Platform         string // GOOS/GOARCH
}

// Get returns this binary's build.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return resolve(Version, Commit, Date, bi)
}

// resolve fills what the linker set, then what the build information says, then
// the placeholders.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	info := Info{
		Version:   version,
		Commit:    commit,
		Date:      date,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi != nil {
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		vcsCommit := ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsCommit = s.Value
			case "vcs.time":
				if info.Date == "" && s.Value != "" {
					info.Date, info.DateIsCommitTime = s.Value, true
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
		if info.Commit == "" {
			info.Commit = vcsCommit
		} else if vcsCommit != "" && vcsCommit != info.Commit {
			// The linker named another commit than the checkout it was built in:
			// believe the linker, and do not claim the checkout's changes for it.
			info.Modified = false
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	if info.Date == "" {
		info.Date = "unknown"
	}
	return info
}

// ShortCommit is the commit's first 12 characters, with "-dirty" when the build had
// uncommitted changes.
func (i Info) ShortCommit() string {
	c := i.Commit
	if len(c) > 12 && c != "unknown" {
		c = c[:12]
	}
	if i.Modified {
		c += "-dirty"
	}
	return c
}

// String is the one line `gatehouse --version` prints.
func (i Info) String() string {
	return fmt.Sprintf("gatehouse %s (commit %s, built %s, %s, %s)", i.Version, i.ShortCommit(), i.Date, i.GoVersion, i.Platform)
}

// Long is what `gatehouse version` prints: one field a line.
func (i Info) Long() string {
	var b strings.Builder
	fmt.Fprintf(&b, "version:   %s\n", i.Version)
	commit := i.Commit
	if i.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(&b, "commit:    %s\n", commit)
	if i.DateIsCommitTime {
		fmt.Fprintf(&b, "built:     %s (the commit's time)\n", i.Date)
	} else {
		fmt.Fprintf(&b, "built:     %s\n", i.Date)
	}
	fmt.Fprintf(&b, "go:        %s\n", i.GoVersion)
	fmt.Fprintf(&b, "platform:  %s\n", i.Platform)
	return b.String()
}
