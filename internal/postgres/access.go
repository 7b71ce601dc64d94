package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/risk"
)

// Key is a stored API key (without the key itself).
type Key struct {
	ID         int64
	Name       string
	Role       string
	Areas      []string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// CreateKey stores a new key's hash and returns the key, to be shown once.
func (db *DB) CreateKey(ctx context.Context, name, role string, areas []string, expires *time.Time) (string, Key, error) {
	k := Key{Name: name, Role: role, Areas: areas, ExpiresAt: expires}
	switch role {
	case risk.RolePlanner, risk.RoleAdmin:
	case risk.RoleStaff:
		if len(areas) == 0 {
			return "", k, risk.Errorf(risk.EINVALID, "a staff key needs --area (kecamatan or village codes)")
		}
	default:
		return "", k, risk.Errorf(risk.EINVALID, "role %q: want planner, staff or admin", role)
	}
	for _, a := range areas {
		if !areaCode.MatchString(a) {
			return "", k, risk.Errorf(risk.EINVALID, "area %q is not a Kemendagri code", a)
		}
	}
	if name == "" {
		return "", k, risk.Errorf(risk.EINVALID, "a key needs a --name saying whose it is")
	}
	key, hash, err := risk.NewKey()
	if err != nil {
		return "", k, err
	}
	if areas == nil {
		areas = []string{}
	}
	err = db.Pool.QueryRow(ctx, `INSERT INTO api_key (name, role, areas, key_hash, expires_at) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, created_at`, name, role, areas, hash, expires).Scan(&k.ID, &k.CreatedAt)
	return key, k, err
}

// Keys lists every key, newest first.
func (db *DB) Keys(ctx context.Context) ([]Key, error) {
	rows, err := db.Pool.Query(ctx, `SELECT id, name, role, areas, created_at, expires_at, revoked_at, last_used_at FROM api_key ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) {
		var k Key
		err := r.Scan(&k.ID, &k.Name, &k.Role, &k.Areas, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt)
		return k, err
	})
}

// RevokeKey revokes a key at once.
func (db *DB) RevokeKey(ctx context.Context, id int64) error {
	tag, err := db.Pool.Exec(ctx, `UPDATE api_key SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return risk.Errorf(risk.ENOTFOUND, "no active key %d", id)
	}
	return nil
}

// Authenticate returns the principal of a key, or an EUNAUTHORIZED-style
// invalid error when the key is unknown, expired or revoked.
func (db *DB) Authenticate(ctx context.Context, key string) (risk.Principal, error) {
	var p risk.Principal
	err := db.Pool.QueryRow(ctx, `
		UPDATE api_key SET last_used_at = now()
		WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
		RETURNING id, name, role, areas`, risk.HashKey(key)).Scan(&p.KeyID, &p.Name, &p.Role, &p.Areas)
	if errors.Is(err, pgx.ErrNoRows) {
		return risk.Public, risk.Errorf(ErrUnauthorized, "the API key is unknown, expired or revoked")
	}
	return p, wrapDB(err)
}

// ErrUnauthorized is the error code of a bad key.
const ErrUnauthorized = "unauthorized"

// AuditEntry is one recorded look at household- or child-level data.
type AuditEntry struct {
	At      time.Time       `json:"at"`
	KeyID   *int64          `json:"key_id"`
	Role    string          `json:"role"`
	Route   string          `json:"route"`
	Params  json.RawMessage `json:"params"`
	Records int             `json:"records"`
}

// Audit appends an entry to the audit log.
func (db *DB) Audit(ctx context.Context, p risk.Principal, route string, params map[string][]string, records int) error {
	var key *int64
	if p.KeyID != 0 {
		key = &p.KeyID
	}
	b, err := json.Marshal(params)
	if err != nil {
		return err
	}
	_, err = db.Pool.Exec(ctx, `INSERT INTO audit_log (key_id, role, route, params, records) VALUES ($1, $2, $3, $4, $5)`,
		key, p.Role, route, b, records)
	return wrapDB(err)
}

// AuditSince returns the audit log since a time, oldest first.
func (db *DB) AuditSince(ctx context.Context, since time.Time) ([]AuditEntry, error) {
	rows, err := db.Pool.Query(ctx, `SELECT at, key_id, role, route, params, records FROM audit_log WHERE at >= $1 ORDER BY id`, since)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.At, &e.KeyID, &e.Role, &e.Route, &e.Params, &e.Records)
		return e, err
	})
}
