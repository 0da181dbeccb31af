package providertest

import (
	"time"

	"github.com/gatehouse-id/gatehouse/engine/authn/phone"
	"github.com/gatehouse-id/gatehouse/engine/messaging"
)

// SMS is a text carrying code to the number to, worded as the engine words it, so
// that a sender is tested with what it will really be given.
func SMS(to, code string) messaging.Outbound {
	return messaging.Outbound{
		ID: "msg_sms1", To: to, Channel: messaging.SMS, Code: code,
		Body: phone.MessageText(code, "Gatehouse", 5*time.Minute),
	}
}

// Call is a voice call reading code out to the number to, worded as the engine
// words it.
func Call(to, code string) messaging.Outbound {
	return messaging.Outbound{
		ID: "msg_call1", To: to, Channel: messaging.Voice, Code: code,
		Body: phone.VoiceText(code, "Gatehouse"),
	}
}
