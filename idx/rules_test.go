package idx_test

import (
	"reflect"
	"testing"

	"github.com/gatehouse-id/gatehouse/idx"
)

func TestPasswordRulesInWords(t *testing.T) {
	got := (&idx.PasswordPolicy{MinLength: 12, MinLowerCase: 2, MinUpperCase: 1, MinNumber: 3, MinSymbol: 1,
		ExcludeUsername: true, ExcludeAttributes: []string{"firstName", "lastName", "nickName"}, HistoryCount: 1}).Rules()
	want := []string{"At least 12 characters", "At least 2 lowercase letters", "An uppercase letter", "At least 3 numbers",
		"A symbol, such as ! or #", "Not your username", "Not your first name", "Not your last name", "Not your nickName", "Not your last password"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rules = %q\nwant    %q", got, want)
	}
	if (*idx.PasswordPolicy)(nil).Rules() != nil || (&idx.PasswordPolicy{}).Rules() != nil {
		t.Error("no policy must give no rules")
	}
}
