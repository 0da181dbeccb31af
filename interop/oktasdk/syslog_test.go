package oktasdk

import (
	"context"
	"testing"

	"github.com/okta/okta-sdk-golang/v5/okta"
)

// TestOktaSDKSystemLog: Okta's SDK reads the system log — the events of changes it
// made through the API, filtered by type, one page at a time.
func TestOktaSDKSystemLog(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gatehouse")
	}
	e := startEngine(t, 1000, nil)
	ctx := context.Background()
	token, _ := e.token("auditor", false)
	c := e.client(t, token, 0, 5)
	var ids []string
	for _, login := range []string{"lia@example.com", "max@example.com"} {
		u, _, err := c.UserAPI.CreateUser(ctx).Body(newUser(login, "L", "M")).Activate(true).Execute()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, u.GetId())
	}
	if _, err := c.UserAPI.SuspendUser(ctx, ids[0]).Execute(); err != nil {
		t.Fatal(err)
	}

	created, resp, err := c.SystemLogAPI.ListLogEvents(ctx).Filter(`eventType eq "user.lifecycle.create"`).Limit(1).Execute()
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for {
		for _, ev := range created {
			if ev.GetEventType() != "user.lifecycle.create" || ev.Outcome == nil || ev.Outcome.GetResult() != "SUCCESS" {
				t.Errorf("event %+v", ev)
			}
			for _, tg := range ev.Target {
				if tg.GetType() == "User" {
					targets = append(targets, tg.GetId())
				}
			}
		}
		if !resp.HasNextPage() {
			break
		}
		var next []okta.LogEvent
		if resp, err = resp.Next(&next); err != nil {
			t.Fatal(err)
		}
		created = next
	}
	if len(targets) != 2 || targets[0] != ids[0] || targets[1] != ids[1] {
		t.Errorf("user.lifecycle.create targets, one per page: %v, want %v", targets, ids)
	}
	suspended, _, err := c.SystemLogAPI.ListLogEvents(ctx).Filter(`eventType eq "user.lifecycle.suspend"`).Execute()
	if err != nil || len(suspended) != 1 || len(suspended[0].Target) == 0 || suspended[0].Target[0].GetId() != ids[0] {
		t.Errorf("user.lifecycle.suspend: %+v %v", suspended, err)
	}
	_, resp, err = c.SystemLogAPI.ListLogEvents(ctx).Filter(`eventType sw "user"`).Execute()
	if code, body := apiError(t, "an unsupported filter", resp, err); code != 400 || body.GetErrorCode() != "E0000031" {
		t.Errorf("an unsupported filter: %d %+v", code, body)
	}
}
