//go:build gatehouse_upgradetest

package sqlstore

import (
	"embed"
	"io/fs"
)

// A binary built with -tags gatehouse_upgradetest carries one more migration than
// the release it is built from, so that the rolling-upgrade test can run two real
// releases (this one, and "the next") against one database. No other build has it.

//go:embed upgradetest/*.sql
var upgradeTestFiles embed.FS

func init() {
	sub, err := fs.Sub(upgradeTestFiles, "upgradetest")
	if err == nil {
		extraMigrations, err = LoadMigrations(sub)
	}
	if err != nil {
		panic("sqlstore: the upgrade test's migration: " + err.Error())
	}
}
