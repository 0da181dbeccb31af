// Command gatehouse is the Gatehouse identity engine: serve, demo, users, bench.
// Everything it does lives in internal/cli; this file only hands over.
package main

import (
	"os"

	"github.com/gatehouse-id/gatehouse/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
