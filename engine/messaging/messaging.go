// Package messaging delivers one-time codes to phones. Codes are not sent inline: the
// engine queues a message in the store in the same database transaction that creates
// the code (store.ChallengeStore.CreateChallenge), and a Worker on every node claims
// due messages and hands them to a Sender. A message is thus never lost when a node
// dies, and retries never run on two nodes at once.
package messaging

import (
	"context"
	"errors"
)

// Channels a message can go by.
const (
	SMS   = "sms"
	Voice = "voice"
)

// Outbound is one message for a Sender.
type Outbound struct {
	ID      string // the outbox id; providers that support it use it as an idempotency key
	To      string // E.164
	Channel string // SMS or Voice
	Body    string // the text of the SMS, or what the call reads out
	Code    string // the code the message carries, for senders that show it (dev outbox)
}

// Sender hands a message to a carrier.
type Sender interface {
	// Send delivers m and returns the provider's id for it. Errors are retried with
	// backoff unless wrapped with Permanent.
	Send(ctx context.Context, m Outbound) (providerID string, err error)
}

// ScrubbingSender is a Sender after which the stored copy of a delivered message may
// lose its code: everything but the dev outbox, which exists to show codes.
type ScrubbingSender interface {
	Sender
	ScrubAfterSend() bool
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying (the provider refused the request).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
