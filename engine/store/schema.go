package store

import (
	"context"
	"errors"
	"time"
)

// SchemaMode says what opening a store may do to the database's schema.
//
// Schemas follow expand/contract (docs/upgrading.md): a release only adds to the
// schema, so a binary serves any database that holds every one of its migrations,
// including one a newer release has migrated further.
type SchemaMode int

const (
	// SchemaMigrate applies the migrations the database lacks before the store is
	// returned. The engine's demo and tests open stores this way; `gatehouse serve`
	// and the command line decide for themselves (SchemaInspect, then Migrate).
	SchemaMigrate SchemaMode = iota
	// SchemaRequire changes nothing and fails with ErrSchemaBehind when the database
	// lacks one of this binary's migrations (an empty database lacks them all).
	SchemaRequire
	// SchemaInspect changes nothing and checks nothing: for `gatehouse migrate`,
	// which reads SchemaStatus and then may Migrate.
	SchemaInspect
)

// ErrSchemaBehind means the database's schema is older than this binary needs.
var ErrSchemaBehind = errors.New("the database needs `gatehouse migrate`")

// Migrator reads and advances the database's schema.
type Migrator interface {
	// SchemaStatus reports the schema's version and which migrations are applied,
	// without changing anything.
	SchemaStatus(ctx context.Context) (SchemaStatus, error)
	// Migrate applies this binary's migrations that the database lacks, in order,
	// each in a transaction of its own, and returns those it applied (another
	// process migrating at the same time may have applied some of them). Processes
	// migrating at once do not both apply one migration.
	Migrate(ctx context.Context) ([]Migration, error)
}

// Migration is one step of the schema.
type Migration struct {
	Version int64
	Name    string // the file name, NNNN_description.sql
	// AppliedAt is when the database recorded it; zero for a pending one.
	AppliedAt time.Time
}

// SchemaStatus is where a database's schema stands against this binary's.
type SchemaStatus struct {
	// Database names the kind of database: "sqlite" or "postgres".
	Database string
	// Binary is the version of this binary's newest migration: the schema it needs.
	Binary int64
	// Current is the version of the database's newest applied migration; 0 for a
	// database without the schema.
	Current int64
	// Applied are the migrations the database has recorded, oldest first, including
	// those of a newer release that this binary does not know (see Unknown).
	Applied []Migration
	// Pending are this binary's migrations the database lacks, oldest first.
	Pending []Migration
	// Unknown are applied migrations this binary does not carry: a newer release's.
	Unknown []Migration
}

// Behind reports whether the database is older than this binary needs: it cannot
// serve it until `gatehouse migrate` runs.
func (s SchemaStatus) Behind() bool { return s.Current < s.Binary || len(s.Pending) > 0 }
