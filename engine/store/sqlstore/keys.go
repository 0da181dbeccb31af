package sqlstore

import (
	"context"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// ---- signing keys ----

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.writes.exec(ctx, `INSERT INTO signing_keys (id, algorithm, private_key, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.Algorithm, k.PrivateKey, millis(k.CreatedAt))
	return s.dbError(err)
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return queryList(ctx, s, s.reads, func(row rowScanner) (store.SigningKey, error) {
		var k store.SigningKey
		err := row.Scan(&k.ID, &k.Algorithm, asBytes(&k.PrivateKey), asTime(&k.CreatedAt))
		return k, err
	}, `SELECT id, algorithm, private_key, created_at FROM signing_keys ORDER BY created_at, id`)
}

// ---- secrets ----

// GetOrCreateSecret inserts the candidate unless the name is taken, then reads what is
// stored, in one write transaction. When nodes race, PostgreSQL makes the losing
// INSERT wait for the winner's commit and then do nothing, and the SELECT that follows
// (a new snapshot under READ COMMITTED) sees the winner's value; SQLite runs the
// transactions one after the other.
func (s *Store) GetOrCreateSecret(ctx context.Context, name string, candidate []byte) ([]byte, error) {
	var value []byte
	err := s.inTx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			name, candidate); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(asBytes(&value))
	})
	return value, err
}
