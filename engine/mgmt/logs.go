package mgmt

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/engine/eventlog"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// logs is Okta's System Log API (/api/v1/logs): the events engine/eventlog
// records, read-only.
type logs struct{ a *API }

func (l *logs) routes() []route {
	return []route{{"GET /api/v1/logs", l.list}}
}

// Paging and bounds of GET /api/v1/logs, as Okta's.
const (
	defaultLogLimit = 100
	maxLogLimit     = 1000
	// defaultLogWindow is how far back a query without since reaches.
	defaultLogWindow = 7 * 24 * time.Hour
	// Keywords of q: at most this many, each at most this long.
	maxLogKeywords  = 10
	maxKeywordBytes = 40
)

// list is GET /api/v1/logs: events published from since (default: 7 days ago) to
// until (default: now), ASCENDING (default) or DESCENDING, filtered by filter
// (eventlog.ParseFilter) and q (keywords that must all appear), limit at a time;
// the next page's link carries an opaque cursor (after).
func (l *logs) list(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	var eq store.EventQuery
	eq.Limit = defaultLogLimit
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			errValidation.write(w, "limit", fmt.Sprintf("limit must be a whole number from 1 to %d", maxLogLimit))
			return
		}
		eq.Limit = min(n, maxLogLimit)
	}
	for _, b := range []struct {
		name string
		t    *time.Time
	}{{"since", &eq.Since}, {"until", &eq.Until}} {
		s := q.Get(b.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			errValidation.write(w, b.name, b.name+" must be a time in ISO 8601 form, such as 2024-05-01T10:00:00.000Z")
			return
		}
		*b.t = t
	}
	if eq.Since.IsZero() {
		eq.Since = c.now.Add(-defaultLogWindow)
	}
	if !eq.Until.IsZero() && !eq.Since.Before(eq.Until) {
		errValidation.write(w, "until", "until must be later than since")
		return
	}
	switch order := q.Get("sortOrder"); order {
	case "", "ASCENDING":
	case "DESCENDING":
		eq.Descending = true
	default:
		errValidation.write(w, "sortOrder", "sortOrder must be ASCENDING or DESCENDING")
		return
	}
	if expr := q.Get("filter"); expr != "" {
		f, err := eventlog.ParseFilter(expr)
		if err != nil {
			errBadSearch.write(w, "", "filter: "+err.Error())
			return
		}
		eq.Filter = f
	}
	if text := q.Get("q"); text != "" {
		words := strings.Fields(text)
		if len(words) > maxLogKeywords || !utf8.ValidString(text) {
			errBadSearch.write(w, "", fmt.Sprintf("q: at most %d keywords of valid UTF-8", maxLogKeywords))
			return
		}
		for _, kw := range words {
			if len(kw) > maxKeywordBytes {
				errBadSearch.write(w, "", fmt.Sprintf("q: a keyword is longer than %d bytes", maxKeywordBytes))
				return
			}
		}
		eq.Keywords = words
	}
	if s := q.Get("after"); s != "" {
		cur, ok := decodeLogCursor(s)
		if !ok {
			errValidation.write(w, "after", "after must be a cursor from a Link header of this API")
			return
		}
		eq.After = &cur
	}

	want := eq.Limit
	eq.Limit++ // one more tells whether there is a next page
	events, err := l.a.o.Store.ListEvents(r.Context(), eq)
	if err != nil {
		l.a.internal(w, r, "listing events", err)
		return
	}
	more := len(events) > want
	events = events[:min(len(events), want)]
	if events == nil {
		events = []store.LogEvent{}
	}

	self := url.Values{"limit": {strconv.Itoa(want)}}
	for _, k := range []string{"since", "until", "filter", "q", "sortOrder", "after"} {
		if v := q.Get(k); v != "" {
			self.Set(k, v)
		}
	}
	w.Header().Add("Link", link(l.a.o.BaseURL+"/api/v1/logs?"+self.Encode(), "self"))
	if more {
		next := url.Values{}
		for k, v := range self {
			next[k] = v
		}
		// A page without since reached back from now; the next one must start
		// from the same instant, not from a later now.
		if next.Get("since") == "" {
			next.Set("since", eq.Since.UTC().Format("2006-01-02T15:04:05.000Z"))
		}
		last := events[len(events)-1]
		next.Set("after", encodeLogCursor(store.EventCursor{Published: last.Published, Seq: last.Seq}))
		w.Header().Add("Link", link(l.a.o.BaseURL+"/api/v1/logs?"+next.Encode(), "next"))
	}
	writeJSON(w, http.StatusOK, events)
}

// The cursor (after) is the last event's position, "<published ms>.<seq>",
// base64url-encoded: opaque to clients, checked, not signed — it only says where a
// listing the caller may read in full starts.
func encodeLogCursor(c store.EventCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.Published.UnixMilli(), 10) + "." + strconv.FormatInt(c.Seq, 10)))
}

func decodeLogCursor(s string) (store.EventCursor, bool) {
	if len(s) > 64 {
		return store.EventCursor{}, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return store.EventCursor{}, false
	}
	ms, seq, ok := strings.Cut(string(b), ".")
	if !ok {
		return store.EventCursor{}, false
	}
	p, err1 := strconv.ParseInt(ms, 10, 64)
	n, err2 := strconv.ParseInt(seq, 10, 64)
	if err1 != nil || err2 != nil || p < 0 || n < 1 {
		return store.EventCursor{}, false
	}
	c := store.EventCursor{Published: time.UnixMilli(p).UTC(), Seq: n}
	if encodeLogCursor(c) != s { // only the one encoding: no leading zeros, signs, line breaks
		return store.EventCursor{}, false
	}
	return c, true
}
