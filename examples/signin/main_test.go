package main

import (
	"bufio"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// TestSignInAgainstARealEngine runs the program against a live engine, typing a wrong
// code first and then the one the engine sent.
func TestSignInAgainstARealEngine(t *testing.T) {
	h := enginetest.Start(t, enginetest.Options{})
	h.CreateUser(t, "alice@example.com", "+12015550123")
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run([]string{"-issuer", h.Issuer, "-client-id", enginetest.ClientID, "-redirect-uri", enginetest.RedirectURI,
			"-password", enginetest.Password, "-method", "voice"}, stdinR, stdoutW)
		stdoutW.Close()
	}()
	var out strings.Builder
	lines := bufio.NewReader(stdoutR)
	typed := 0
	for {
		chunk, err := lines.ReadString(':')
		out.WriteString(chunk)
		if err != nil {
			break
		}
		if strings.HasSuffix(chunk, "enter it:") {
			code := h.LatestCode(t, "+12015550123")
			if typed == 0 {
				code = "00000" + string('0'+rune((code[5]-'0'+1)%10)) // a wrong one first
			}
			typed++
			if _, err := io.WriteString(stdinW, code+"\n"); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("signin: %v\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("signin did not finish")
	}
	got := out.String()
	for _, want := range []string{"next step: challenge-authenticator", "Invalid code. Try again.", "signed in: sub=00u", "email=alice@example.com"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}
