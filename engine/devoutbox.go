package engine

import (
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// OutboxEntry is one message on the dev outbox page.
type OutboxEntry struct {
	To      string `json:"to"`
	Channel string `json:"channel"`
	Text    string `json:"text"`
	Code    string `json:"code"`
	// SentAt is when the engine queued the message for sending; Status says whether
	// the (dev) sender has taken it yet.
	SentAt time.Time `json:"sentAt"`
	Status string    `json:"status"`
}

var outboxPage = template.Must(template.New("outbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Gatehouse dev outbox</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="3">
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:56rem;padding:0 1rem;color:#1d2433}
h1{font-size:1.4rem} table{border-collapse:collapse;width:100%} th,td{text-align:left;padding:.5rem;border-bottom:1px solid #dde2ea;vertical-align:top}
.code{font:700 1.3rem ui-monospace,monospace;letter-spacing:.15em} .muted{color:#5b6577;font-size:.9rem}
</style></head><body>
<h1>Dev outbox</h1>
<p class="muted">Texts and calls Gatehouse would have sent{{if .Phone}} to {{.Phone}}{{end}}, newest first. This page refreshes every 3 seconds. It exists only because <code>dev_outbox</code> is on: never on a server real people use.</p>
{{if .Entries}}<table><thead><tr><th>When</th><th>To</th><th>By</th><th>Code</th><th>Text</th></tr></thead><tbody>
{{range .Entries}}<tr><td class="muted">{{.SentAt.Format "15:04:05"}}</td><td>{{.To}}</td><td>{{if eq .Channel "voice"}}call{{else}}SMS{{end}}</td><td class="code">{{.Code}}</td><td>{{.Text}}</td></tr>
{{end}}</tbody></table>{{else}}<p>No messages yet.</p>{{end}}
</body></html>`))

// devOutboxHandler serves GET /dev/outbox[?phone=+E164]: the messages in the store,
// newest first, as JSON — or as a page when a browser asks for HTML.
func devOutboxHandler(st store.OutboxStore, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		number := strings.TrimSpace(r.URL.Query().Get("phone"))
		if number != "" {
			// An unescaped "+" in a query string arrives as a space, trimmed above.
			if !strings.HasPrefix(number, "+") {
				number = "+" + number
			}
			n, err := phone.ParseNumber(number, "US")
			if err != nil {
				http.Error(w, "phone: not a valid E.164 number", http.StatusBadRequest)
				return
			}
			number = n
		}
		msgs, err := st.ListMessages(r.Context(), store.MessageFilter{To: number, Limit: 50})
		if err != nil {
			log.Error("dev outbox: listing messages", "err", err)
			http.Error(w, "could not list messages", http.StatusInternalServerError)
			return
		}
		entries := make([]OutboxEntry, 0, len(msgs))
		for _, m := range msgs {
			if m.Channel == eventlog.ChannelEventHook {
				continue // not a text or a call
			}
			entries = append(entries, OutboxEntry{To: m.To, Channel: m.Channel, Text: m.Body, Code: m.Code, SentAt: m.CreatedAt.UTC(), Status: string(m.Status)})
		}
		w.Header().Set("Cache-Control", "no-store")
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
			_ = outboxPage.Execute(w, struct {
				Phone   string
				Entries []OutboxEntry
			}{number, entries})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(entries)
	})
}
