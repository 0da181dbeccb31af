package eventlog

import (
	"encoding/json"
	"slices"

	"github.com/gatehouse-id/gatehouse/engine/opaque"
	"github.com/gatehouse-id/gatehouse/engine/store"
)

// ChannelEventHook is the outbox channel of event hook deliveries: To is the
// hook's name, Body the JSON request body (Envelope).
const ChannelEventHook = "event_hook"

// Hook is an event hook as the recorder sees it: where deliveries are addressed
// (its name; the URL and secret are the sender's) and what it subscribes to.
type Hook struct {
	Name string
	// EventTypes are the event types it gets; empty means every one.
	EventTypes []string
}

func (h Hook) wants(eventType string) bool {
	return len(h.EventTypes) == 0 || slices.Contains(h.EventTypes, eventType)
}

// Envelope is the body of an event hook delivery, in Okta's Event Hooks shape.
type Envelope struct {
	EventType          string       `json:"eventType"`
	EventTypeVersion   string       `json:"eventTypeVersion"`
	CloudEventsVersion string       `json:"cloudEventsVersion"`
	Source             string       `json:"source"`
	EventID            string       `json:"eventId"`
	EventTime          string       `json:"eventTime"`
	ContentType        string       `json:"contentType"`
	Data               EnvelopeData `json:"data"`
}

// EnvelopeData holds the delivered events.
type EnvelopeData struct {
	Events []store.LogEvent `json:"events"`
}

// deliveries are the outbox messages that deliver events to the hooks: one per
// hook that wants any of them, carrying those it wants.
func (r *Recorder) deliveries(events []store.LogEvent) []store.Message {
	if len(r.Hooks) == 0 || len(events) == 0 {
		return nil
	}
	now := r.now()
	var msgs []store.Message
	for _, h := range r.Hooks {
		var wanted []store.LogEvent
		for _, e := range events {
			if h.wants(e.EventType) {
				wanted = append(wanted, e)
			}
		}
		if len(wanted) == 0 {
			continue
		}
		id := opaque.ID("evh")
		body, err := json.Marshal(Envelope{
			EventType: "com.okta.event_hook", EventTypeVersion: "1.0", CloudEventsVersion: "0.1",
			Source: r.Source, EventID: id, EventTime: now.Format("2006-01-02T15:04:05.000Z"),
			ContentType: "application/json", Data: EnvelopeData{Events: wanted},
		})
		if err != nil {
			continue // a LogEvent always marshals
		}
		msgs = append(msgs, store.Message{ID: id, To: h.Name, Channel: ChannelEventHook, Body: string(body),
			Status: store.MessagePending, NextAttemptAt: now, CreatedAt: now})
	}
	return msgs
}
