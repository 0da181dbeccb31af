package idxserver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/enginetest"
)

// TestCancelRacingAnAnswer: a cancel and the right code posted at the same moment
// on one sign-in both get an answer a client understands — one wins, the other
// is told the sign-in moved on — and never a server error. Each step is one
// database transaction holding its rows to the end, so the two must lock the
// code and the transaction in the same order or, on PostgreSQL, deadlock.
func TestCancelRacingAnAnswer(t *testing.T) {
	backends(t, func(t *testing.T, o enginetest.Options) {
		h := enginetest.Start(t, o)
		post := func(path, body string) int {
			resp, err := http.Post(h.URL+path, "application/json", bytes.NewBufferString(body))
			if err != nil {
				t.Error(err)
				return 0
			}
			defer resp.Body.Close()
			return resp.StatusCode
		}
		for round := range 12 {
			// A user of its own each round, clear of the per-user send limits.
			login, number := fmt.Sprintf("race%d@example.com", round), fmt.Sprintf("+120155501%02d", 40+round)
			h.CreateUser(t, login, number)
			f := h.Interact(t)
			enginetest.Expect(t, "identify", http.StatusOK)(f.Identify(login, enginetest.Password))
			enginetest.Expect(t, "choose", http.StatusOK)(f.ChooseMethodFirst("sms"))
			code := h.LatestCode(t, number)
			handle, _ := json.Marshal(f.StateHandle)
			answer, cancel := make(chan int), make(chan int)
			go func() {
				answer <- post("/idp/idx/challenge/answer", `{"stateHandle":`+string(handle)+`,"credentials":{"passcode":"`+code+`"}}`)
			}()
			go func() { cancel <- post("/idp/idx/cancel", `{"stateHandle":`+string(handle)+`}`) }()
			a, c := <-answer, <-cancel
			for what, status := range map[string]int{"answer": a, "cancel": c} {
				if status >= 500 || status == 0 {
					t.Errorf("round %d: the %s racing the other got %d", round, what, status)
				}
			}
		}
	})
}
