// Package selfcontained checks that the repository stands on its own: nothing in it
// points at files a user's clone does not have.
package selfcontained

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// outside matches references to material that lived beside the repository while it
// was written (the recorded protocol notes, the design draft). docs/protocol.md is
// the protocol reference in the repository.
var outside = regexp.MustCompile(`\.\./shared|PROTOCOL\.md|idx-protocol/|DESIGN\.md`)

// TestNothingPointsOutsideTheRepository reads every tracked text file and fails on
// each line that refers to files outside the repository.
func TestNothingPointsOutsideTheRepository(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not on PATH")
	}
	root, err := exec.Command(git, "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git checkout")
	}
	dir := strings.TrimSpace(string(root))
	out, err := exec.Command(git, "-C", dir, "ls-files").Output()
	if err != nil {
		t.Fatal(err)
	}
	self := filepath.ToSlash(filepath.Join("internal", "selfcontained", "selfcontained_test.go"))
	checked := 0
	for _, name := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if name == self || strings.HasSuffix(name, ".png") || strings.HasSuffix(name, "package-lock.json") || strings.Contains(name, "testdata/fuzz/") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || strings.IndexByte(string(data[:min(len(data), 8000)]), 0) >= 0 {
			continue // removed in the work tree, or binary
		}
		checked++
		for i, line := range strings.Split(string(data), "\n") {
			if outside.MatchString(line) {
				t.Errorf("%s:%d points outside the repository: %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}
	if checked < 100 {
		t.Fatalf("only %d files checked: the file list is wrong", checked)
	}
}
