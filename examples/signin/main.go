// Command signin signs a user in from the terminal with the Gatehouse Go SDK
// (package idx) — the seed's four steps — and prints their profile. It uses only
// the SDK and the standard library, so it works against `gatehouse demo` and against
// an Okta org with an embedded-sign-in app alike:
//
//	go run ./examples/signin -username alice@example.com -password gatehouse-demo
//
// It asks for the code on standard input.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gatehouse-id/gatehouse/idx"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signin:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("signin", flag.ContinueOnError)
	issuer := fs.String("issuer", "http://127.0.0.1:8080/oauth2/default", "OIDC issuer")
	clientID := fs.String("client-id", "gatehouse-demo", "client id")
	redirect := fs.String("redirect-uri", "http://127.0.0.1:3000/login/callback", "registered redirect URI")
	username := fs.String("username", "alice@example.com", "username")
	password := fs.String("password", "gatehouse-demo", "password")
	method := fs.String("method", "sms", "how the code reaches the phone: sms or voice")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client, err := idx.NewClient(idx.Config{
		Issuer: *issuer, ClientID: *clientID, RedirectURI: *redirect,
		Scopes: []string{"openid", "profile", "email", "phone", "offline_access"},
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	in := bufio.NewReader(stdin)
	var state *idx.State
	step := func(opts idx.Options) (*idx.Transaction, error) {
		tx, err := client.Authenticate(ctx, state, opts)
		if err != nil {
			return nil, err
		}
		state = tx.State
		for _, m := range tx.Messages {
			fmt.Fprintf(stdout, "%s: %s\n", m.Class, m.Text)
		}
		return tx, nil
	}
	// The seed's four calls; each answer says what the next one needs.
	calls := []idx.Options{
		{Username: *username, Password: *password},
		{Authenticator: "phone_number"},
		{MethodType: *method},
	}
	var tx *idx.Transaction
	for _, opts := range calls {
		if tx, err = step(opts); err != nil {
			return err
		}
		if tx.Status != idx.StatusPending {
			return fmt.Errorf("sign-in ended %s", tx.Status)
		}
		fmt.Fprintf(stdout, "next step: %s\n", tx.NextStep.Name)
	}
	for tx.Status == idx.StatusPending && tx.NextStep.Name == "challenge-authenticator" {
		phone := ""
		if a := tx.NextStep.Authenticator; a != nil {
			phone = a.Profile["phoneNumber"]
		}
		fmt.Fprintf(stdout, "code sent by %s to %s; enter it: ", *method, phone)
		line, err := in.ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("reading the code: %w", err)
		}
		if tx, err = step(idx.Options{VerificationCode: strings.TrimSpace(line)}); err != nil {
			return err
		}
	}
	if tx.Status != idx.StatusSuccess {
		return fmt.Errorf("sign-in ended %s", tx.Status)
	}
	claims, err := client.UserInfo(ctx, tx.Tokens.AccessToken)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signed in: sub=%v name=%v email=%v; access token expires %s\n",
		claims["sub"], claims["name"], claims["email"], tx.Tokens.ExpiresAt.Format("15:04:05"))
	return nil
}
