package engine

import (
	"context"
	"fmt"

	"github.com/gatehouse-id/gatehouse/engine/config"
	"github.com/gatehouse-id/gatehouse/engine/store"
	"github.com/gatehouse-id/gatehouse/engine/store/postgres"
	"github.com/gatehouse-id/gatehouse/engine/store/sqlite"
)

// OpenStore opens the database the configuration's database setting names:
// "sqlite:<path>" (or a bare path) or a "postgres://" DSN, and brings its schema up to
// date. Only the demo, the benchmark's own engine and tests open a store this way;
// serve and the command line use OpenStoreWith.
func OpenStore(ctx context.Context, database string) (store.Store, error) {
	return OpenStoreWith(ctx, database, StoreOptions{})
}

// StoreOptions are how OpenStoreWith opens the store.
type StoreOptions struct {
	// Schema says whether opening migrates the schema (the zero value), only
	// requires it to be recent enough, or leaves it alone.
	Schema store.SchemaMode
	// MustExist refuses a SQLite file that does not exist instead of creating an
	// empty database (store.SchemaRequire implies it).
	MustExist bool
}

// OpenStoreWith is OpenStore with options.
func OpenStoreWith(ctx context.Context, database string, o StoreOptions) (store.Store, error) {
	driver, target, err := config.ParseDatabase(database)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	switch driver {
	case "postgres":
		return postgres.OpenWith(ctx, target, postgres.Options{Schema: o.Schema})
	default:
		return sqlite.OpenWith(ctx, target, sqlite.Options{Schema: o.Schema, MustExist: o.MustExist})
	}
}
