package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-id/gatehouse/engine/store"
)

const clientColumns = `id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, grants, scopes,
	access_token_ttl_ms, id_token_ttl_ms, refresh_token_ttl_ms, token_endpoint_auth_method, jwks_uri, jwks,
	backchannel_logout_uri, created_at, updated_at`

func clientArgs(c store.Client) []any {
	return []any{c.ID, c.Name, c.SecretHash, c.Public, jsonList(c.RedirectURIs), jsonList(c.PostLogoutRedirectURIs),
		jsonList(c.Grants), jsonList(c.Scopes), c.AccessTokenTTL.Milliseconds(), c.IDTokenTTL.Milliseconds(),
		c.RefreshTokenTTL.Milliseconds(), c.TokenEndpointAuthMethod, c.JWKSURI, c.JWKS, c.BackchannelLogoutURI,
		millis(c.CreatedAt), millis(c.UpdatedAt)}
}

func scanClient(row rowScanner) (store.Client, error) {
	var c store.Client
	var access, id, refresh int64
	err := row.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, asList(&c.RedirectURIs), asList(&c.PostLogoutRedirectURIs),
		asList(&c.Grants), asList(&c.Scopes), &access, &id, &refresh, &c.TokenEndpointAuthMethod, &c.JWKSURI, &c.JWKS,
		&c.BackchannelLogoutURI, asTime(&c.CreatedAt), asTime(&c.UpdatedAt))
	c.AccessTokenTTL = time.Duration(access) * time.Millisecond
	c.IDTokenTTL = time.Duration(id) * time.Millisecond
	c.RefreshTokenTTL = time.Duration(refresh) * time.Millisecond
	return c, err
}

func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	_, err := s.writes.exec(ctx, `INSERT INTO clients (`+clientColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
		$10, $11, $12, $13, $14, $15, $16, $17)`, clientArgs(c)...)
	return s.dbError(err)
}

func (s *Store) GetClient(ctx context.Context, id string) (store.Client, error) {
	c, err := scanClient(s.reads.queryRow(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`, id))
	return c, s.dbError(err)
}

// ListClients returns every client by id in byte order (the id column is COLLATE
// "C" in PostgreSQL; SQLite compares bytes). Deployments have tens of clients, not
// thousands, so there are no pages.
func (s *Store) ListClients(ctx context.Context) ([]store.Client, error) {
	return queryList(ctx, s, s.reads, scanClient, `SELECT `+clientColumns+` FROM clients ORDER BY id`)
}

func (s *Store) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	return readModifyWrite(ctx, s,
		func(tx *wtx) (store.Client, error) {
			return scanClient(tx.QueryRowContext(ctx, `SELECT `+clientColumns+` FROM clients WHERE id = $1`+s.d.LockRow, id))
		},
		fn,
		func(tx *wtx, current, next store.Client) (store.Client, error) {
			if next.ID != current.ID {
				return next, keyChanged("client", "ID")
			}
			return next, execOne(tx.ExecContext(ctx, `UPDATE clients SET name = $2, secret_hash = $3, public = $4,
				redirect_uris = $5, post_logout_redirect_uris = $6, grants = $7, scopes = $8, access_token_ttl_ms = $9,
				id_token_ttl_ms = $10, refresh_token_ttl_ms = $11, token_endpoint_auth_method = $12, jwks_uri = $13,
				jwks = $14, backchannel_logout_uri = $15, created_at = $16, updated_at = $17 WHERE id = $1`,
				clientArgs(next)...))
		})
}

func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.dbError(execOne(s.writes.exec(ctx, `DELETE FROM clients WHERE id = $1`, id)))
}
