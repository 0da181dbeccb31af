package idx_test

import (
	"context"
	"errors"
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

// ExampleClient_RecoverPassword resets a forgotten password: the username,
// a code sent to the user's phone, then the new password, whose rules the
// server states on the last step. Each call happens in its own HTTP request
// in a web application, with the State kept in the session in between.
func ExampleClient_RecoverPassword() {
	ctx := context.Background()
	client, err := idx.NewClient(idx.Config{
		Issuer: "http://localhost:8080/oauth2/default", ClientID: "0oaSEEDAPP", RedirectURI: "http://localhost:3000/login/callback",
	})
	if err != nil {
		log.Fatal(err)
	}
	tx, err := client.RecoverPassword(ctx, nil, idx.Options{Username: "alice@example.com"})
	if errors.Is(err, idx.ErrRecoveryUnavailable) {
		fmt.Println("this server offers no password reset")
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	// select-authenticator-authenticate: the phone, by SMS.
	tx, err = client.Proceed(ctx, tx.State, idx.Options{Authenticator: "phone_number", MethodType: "sms"})
	if err != nil {
		log.Fatal(err)
	}
	// challenge-authenticator: the code the user received.
	tx, err = client.Proceed(ctx, tx.State, idx.Options{VerificationCode: "123456"})
	if err != nil {
		log.Fatal(err)
	}
	if tx.Status == idx.StatusPending && tx.NextStep.Name == "reset-authenticator" {
		if p := tx.NextStep.Authenticator.PasswordPolicy; p != nil {
			fmt.Printf("at least %d characters, %d digit(s)\n", p.MinLength, p.MinNumber)
		}
		tx, err = client.Proceed(ctx, tx.State, idx.Options{NewPassword: "a new, long passphrase 2"})
		if err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(tx.Status) // SUCCESS: tx.Tokens are the new sign-in's
}

// ExampleClient_Register signs a new user up with the server's profile form,
// a password, and an authenticator app, whose QR code the enrollment step
// carries.
func ExampleClient_Register() {
	ctx := context.Background()
	client, err := idx.NewClient(idx.Config{
		Issuer: "http://localhost:8080/oauth2/default", ClientID: "0oaSEEDAPP", RedirectURI: "http://localhost:3000/login/callback",
	})
	if err != nil {
		log.Fatal(err)
	}
	tx, err := client.Register(ctx, nil, idx.Options{})
	if err != nil {
		log.Fatal(err) // ErrRegistrationUnavailable when the server offers none
	}
	for _, in := range tx.NextStep.Inputs { // enroll-profile: render the server's fields
		fmt.Println(in.Name, in.Label, in.Required) // e.g. userProfile.email Email true
	}
	tx, err = client.Proceed(ctx, tx.State, idx.Options{
		Profile:  map[string]string{"email": "bob@example.com", "firstName": "Bob", "lastName": "Baker"},
		Password: "correct horse battery staple",
	})
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range tx.Messages {
		fmt.Println(m.Field, m.Text) // e.g. an email already registered
	}
	// select-authenticator-enroll: the authenticator app.
	tx, err = client.Proceed(ctx, tx.State, idx.Options{Authenticator: "google_otp"})
	if err != nil {
		log.Fatal(err)
	}
	if a := tx.NextStep.Authenticator; a != nil && a.QRCode != nil {
		fmt.Println(a.QRCode.Type, len(a.SharedSecret)) // show the image and the secret
	}
	tx, err = client.Proceed(ctx, tx.State, idx.Options{VerificationCode: "287082"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tx.Status)
}
