// Package cli is the gatehouse command: flag parsing and wiring for each subcommand.
// Logic lives in the engine, the SDK and the sample app; this package connects them.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gatehouse-id/gatehouse/engine/logctx"
	"github.com/gatehouse-id/gatehouse/internal/version"
)

// env is the process's standard streams, passed in so tests can drive the CLI.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

const usage = `gatehouse — an identity engine that speaks Okta's IDX protocol

Usage:
  gatehouse demo  [flags]            engine + sample app + demo users, no configuration
  gatehouse serve --config FILE      the engine, configured by FILE (see docs/configuration.md)
  gatehouse migrate [--config FILE | --database DSN] [--dry-run | status]
                                     apply the schema migrations this binary carries (docs/upgrading.md)
  gatehouse users [--config FILE | --database DSN] COMMAND ...
                                     create, list, show, set-password, delete, add-phone, remove-phone, revoke-tokens
  gatehouse clients [--config FILE | --database DSN] COMMAND ...
                                     add, list, show, rotate-secret, remove OAuth clients, live
  gatehouse tokens [--config FILE | --database DSN] create|list|revoke
                                     API tokens for the management API (docs/admin-api.md)
  gatehouse logs [--config FILE | --database DSN] tail [--follow] [--filter EXPR] [--since WHEN]
                                     the system log: sign-ins, codes, changes, one event a line
  gatehouse keys  [--config FILE | --database DSN] list|rotate
                                     the token-signing keys and their rotation
  gatehouse keys generate-kek        print a new key-encryption key (keys.encryption_key_file)
  gatehouse backup [--config FILE | --database DSN] --to FILE
                                     an online copy of a SQLite database and its key (docs/backup.md)
  gatehouse restore --from FILE --to PATH
                                     put a copy back, with the engine stopped
  gatehouse bench [flags]            sign-ins per second over HTTP (see docs/performance.md)
  gatehouse version [--json]         version, commit, build date, Go version (also --version)
  gatehouse healthcheck [--url URL]  exit 0 when URL (default http://127.0.0.1:8080/readyz) answers 200
  gatehouse help [COMMAND]

Run "gatehouse COMMAND -h" for a command's flags.
`

// errUsage means the command line was wrong; the message has been printed.
var errUsage = errors.New("usage")

// Main runs the gatehouse command with args (without the program name) and returns
// the exit status.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, stdin, stdout, stderr)
}

// Run is Main with a context whose end stops servers, for tests.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		err = e.serve(ctx, rest)
	case "demo":
		err = e.demo(ctx, rest)
	case "migrate":
		err = e.migrate(ctx, rest)
	case "users":
		err = e.users(ctx, rest)
	case "clients":
		err = e.clients(ctx, rest)
	case "keys":
		err = e.keys(ctx, rest)
	case "tokens":
		err = e.tokens(ctx, rest)
	case "logs":
		err = e.logs(ctx, rest)
	case "backup":
		err = e.backup(ctx, rest)
	case "restore":
		err = e.restore(ctx, rest)
	case "bench", benchEngineCommand:
		err = e.bench(ctx, cmd, rest)
	case "version":
		err = e.version(rest)
	case "--version":
		fmt.Fprintln(stdout, version.Get())
		return 0
	case "healthcheck":
		err = e.healthcheck(ctx, rest)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "gatehouse: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage), errors.Is(err, flag.ErrHelp):
		return 2
	default:
		// One line each for errors that list several problems (a configuration's).
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(stderr, "gatehouse: %s\n", line)
		}
		return 1
	}
}

// newFlagSet returns a flag set that prints its usage to stderr and returns errors.
func (e env) newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: gatehouse %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags, mapping failures to errUsage (flag has printed why).
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

// newLogger returns a structured logger at level, as JSON or as text. Timestamps
// are in UTC whatever the host's zone, so that lines from several nodes sort and
// compare as they are; lines logged with a request's context carry its request_id
// (engine/logctx).
func newLogger(w io.Writer, level string, json bool) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: l, ReplaceAttr: utcTime}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if json {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(logctx.Wrap(h))
}

// utcTime puts the record's time in UTC.
func utcTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		a.Value = slog.TimeValue(a.Value.Time().UTC())
	}
	return a
}
