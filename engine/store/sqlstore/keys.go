package sqlstore

import (
	"context"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

// ---- signing keys ----

const signingKeyColumns = `id, algorithm, private_key, created_at, active_from, retire_at`

func scanSigningKey(row rowScanner) (store.SigningKey, error) {
	var k store.SigningKey
	err := row.Scan(&k.ID, &k.Algorithm, asBytes(&k.PrivateKey), asTime(&k.CreatedAt), asTime(&k.ActiveFrom), asTime(&k.RetireAt))
	return k, err
}

func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	_, err := s.writes.exec(ctx, `INSERT INTO signing_keys (`+signingKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.ID, k.Algorithm, k.PrivateKey, millis(k.CreatedAt), millis(k.ActiveFrom), millis(k.RetireAt))
	return s.dbError(err)
}

func (s *Store) ListSigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return queryList(ctx, s, s.reads, scanSigningKey, `SELECT `+signingKeyColumns+` FROM signing_keys ORDER BY created_at, id`)
}

func (s *Store) UpdateSigningKey(ctx context.Context, id string, fn func(store.SigningKey) (store.SigningKey, error)) (store.SigningKey, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.SigningKey, error) {
			return scanSigningKey(tx.QueryRowContext(ctx, `SELECT `+signingKeyColumns+` FROM signing_keys WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.SigningKey) (store.SigningKey, error) {
			if next.ID != current.ID {
				return next, keyChanged("signing key", "ID")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE signing_keys SET algorithm = $2, private_key = $3, created_at = $4,
				active_from = $5, retire_at = $6 WHERE id = $1`,
				next.ID, next.Algorithm, next.PrivateKey, millis(next.CreatedAt), millis(next.ActiveFrom), millis(next.RetireAt)))
		})
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.dbError(execOne(s.writes.exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)))
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
		if _, err := tx.ExecContext(ctx, `INSERT INTO secrets (name, value, sealed) VALUES ($1, $2, 1) ON CONFLICT (name) DO NOTHING`,
			name, candidate); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(asBytes(&value))
	})
	return value, err
}

func (s *Store) ListSecrets(ctx context.Context) ([]store.Secret, error) {
	return queryList(ctx, s, s.reads, func(row rowScanner) (store.Secret, error) {
		var sec store.Secret
		var sealed int64
		err := row.Scan(&sec.Name, asBytes(&sec.Value), &sealed)
		sec.Sealed = sealed != 0
		return sec, err
	}, `SELECT name, value, sealed FROM secrets ORDER BY name`)
}

func (s *Store) SealSecret(ctx context.Context, name string, sealed []byte) error {
	return s.inTx(ctx, func(tx *wtx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM secrets WHERE name = $1`, name).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return store.ErrNotFound
		}
		_, err := tx.ExecContext(ctx, `UPDATE secrets SET value = $2, sealed = 1 WHERE name = $1 AND sealed = 0`, name, sealed)
		return err
	})
}

func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	_, err := s.writes.exec(ctx, `DELETE FROM secrets WHERE name = $1`, name)
	return s.dbError(err)
}
