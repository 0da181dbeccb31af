// Command webhook-receiver stands in for an SMS gateway while you try
// `gatehouse serve` with `messaging.provider: webhook`: it checks each message's
// signature and timestamp, prints one line per message — phone number, channel and
// code — and answers 200, as a real gateway would once it has queued the text.
//
//	WEBHOOK_SECRET=… go run ./examples/webhook-receiver -addr 127.0.0.1:9000
//
// Point messaging.webhook.url at http://127.0.0.1:9000/ and messaging.webhook.secret_env
// at WEBHOOK_SECRET. It is a development tool: it sends nothing to any phone.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "address to listen on")
	secretEnv := flag.String("secret-env", "WEBHOOK_SECRET", "environment variable holding messaging.webhook.secret")
	flag.Parse()
	secret := os.Getenv(*secretEnv)
	if secret == "" {
		log.Fatalf("webhook-receiver: set %s to the webhook secret", *secretEnv)
	}
	log.Printf("webhook-receiver: listening on http://%s/", *addr)
	log.Fatal(http.ListenAndServe(*addr, handler([]byte(secret), os.Stdout, time.Now)))
}

// message is the JSON body Gatehouse posts.
type message struct {
	ID      string `json:"id"`
	To      string `json:"to"`
	Channel string `json:"channel"`
	Code    string `json:"code"`
}

// maxSkew is how far a request's timestamp may be from this machine's clock.
const maxSkew = 5 * time.Minute

// handler verifies and prints each message. out gets "<to> <channel> <code>" lines.
func handler(secret []byte, out io.Writer, now func() time.Time) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		ts := r.Header.Get("X-Gatehouse-Timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || now().Sub(time.Unix(sec, 0)).Abs() > maxSkew {
			http.Error(w, "stale or missing timestamp", http.StatusUnauthorized)
			return
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(ts + "."))
		mac.Write(body)
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if !hmac.Equal([]byte(r.Header.Get("X-Gatehouse-Signature")), []byte(want)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, "not a message", http.StatusBadRequest)
			return
		}
		mu.Lock()
		fmt.Fprintf(out, "%s %s %s\n", m.To, m.Channel, m.Code)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"id": m.ID})
	})
}
