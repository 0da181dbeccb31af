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
// "sqlite:<path>" (or a bare path) or a "postgres://" DSN.
func OpenStore(ctx context.Context, database string) (store.Store, error) {
	driver, target, err := config.ParseDatabase(database)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	switch driver {
	case "postgres":
		return postgres.Open(ctx, target)
	default:
		return sqlite.Open(ctx, target)
	}
}
