package idx_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gatehouse-id/gatehouse/idx"
)

// sessionStore stands for the application's server-side session storage
// (or an encrypted cookie): the State must survive between HTTP requests and
// must never reach the browser in clear.
type sessionStore map[string]*idx.State

// Example signs a user in with the seed's four calls — username and
// password, the phone, SMS, the code — then reads the user's claims. In a web
// application each call happens in its own HTTP request, with the State kept
// in the session in between; the application only renders tx.NextStep and
// tx.Messages.
func Example() {
	ctx := context.Background()
	client, err := idx.NewClient(idx.Config{
		Issuer:      "http://localhost:8080/oauth2/default", // e.g. `gatehouse demo`
		ClientID:    "0oaSEEDAPP",
		RedirectURI: "http://localhost:3000/login/callback",
		Scopes:      []string{"openid", "profile", "email", "offline_access"},
	})
	if err != nil {
		log.Fatal(err)
	}
	sessions := sessionStore{}
	const sid = "session-id-from-cookie"

	// step calls Authenticate with the stored State and stores the new one.
	step := func(opts idx.Options) *idx.Transaction {
		tx, err := client.Authenticate(ctx, sessions[sid], opts)
		if err != nil {
			log.Fatal(err) // network, protocol or token failure: retry later
		}
		if tx.State == nil {
			delete(sessions, sid)
		} else {
			sessions[sid] = tx.State
		}
		for _, m := range tx.Messages {
			fmt.Printf("%s: %s\n", m.Class, m.Text) // e.g. ERROR: Authentication failed
		}
		return tx
	}

	// 1. authenticate({username, password}) → select-authenticator-authenticate
	tx := step(idx.Options{Username: "alice@example.com", Password: "correct horse battery staple"})
	fmt.Println(tx.Status, tx.NextStep.Name)

	// 2. authenticate({authenticator: "phone_number"}) → authenticator-verification-data
	tx = step(idx.Options{Authenticator: "phone_number"})
	fmt.Println(tx.Status, tx.NextStep.Name, tx.NextStep.Authenticator.Profile["phoneNumber"])

	// 3. authenticate({methodType: "sms"}) → challenge-authenticator
	tx = step(idx.Options{MethodType: "sms"})
	fmt.Println(tx.Status, tx.NextStep.Name, tx.NextStep.CanResend)

	// 4. authenticate({verificationCode}) → SUCCESS with verified tokens
	tx = step(idx.Options{VerificationCode: "123456"})
	if tx.Status != idx.StatusSuccess {
		log.Fatalf("sign-in ended %s", tx.Status)
	}

	claims, err := client.UserInfo(ctx, tx.Tokens.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("signed in as", claims["sub"])
}

// ExampleClient_Resend sends the code again from the challenge step, when
// the server offers it (NextStep.CanResend).
func ExampleClient_Resend() {
	ctx := context.Background()
	client, err := idx.NewClient(idx.Config{
		Issuer: "http://localhost:8080/oauth2/default", ClientID: "0oaSEEDAPP", RedirectURI: "http://localhost:3000/login/callback",
	})
	if err != nil {
		log.Fatal(err)
	}
	var stored *idx.State // loaded from the session
	tx, err := client.Resend(ctx, stored)
	if err != nil {
		log.Fatal(err) // ErrNoTransaction, ErrActionUnavailable, network...
	}
	// A rate limit comes back as a message, not an error.
	for _, m := range tx.Messages {
		fmt.Println(m.Key, m.Text)
	}
}
