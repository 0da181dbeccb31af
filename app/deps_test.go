package app

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gatehouse-id/gatehouse"

// goList runs `go list` with a template over one package.
func goList(t *testing.T, format, pkg string, deps bool) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	args := []string{"list", "-f", format}
	if deps {
		args = append(args, "-deps")
	}
	out, err := exec.Command(goTool, append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(string(out))
}

// TestBuiltOnlyOnThePublicSDK fails if the app or the SDK (their non-test
// code) depends, even indirectly, on the engine or on internal packages, or
// if the app imports anything but the standard library and the SDK: the app
// must work against any IDX issuer, e.g. an Okta org.
func TestBuiltOnlyOnThePublicSDK(t *testing.T) {
	for _, pkg := range []string{module + "/app", module + "/idx"} {
		for _, dep := range goList(t, "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg, true) {
			if strings.HasPrefix(dep, module+"/engine") || strings.HasPrefix(dep, module+"/internal") {
				t.Errorf("%s depends on %s", pkg, dep)
			}
		}
	}
	std := map[string]bool{}
	for _, p := range goList(t, "{{if .Standard}}{{.ImportPath}}{{end}}", module+"/app", true) {
		std[p] = true
	}
	for _, imp := range goList(t, `{{join .Imports " "}}`, module+"/app", false) {
		if !std[imp] && imp != module+"/idx" {
			t.Errorf("the app imports %s: only the standard library and %s/idx are allowed", imp, module)
		}
	}
}
