// Package access holds who may read riskmap's data and what was read: API
// keys, the audit log with its hash chain, erasure and retention of
// households (UU 27/2022), and a household's export. The policy (roles,
// scopes) is the domain's (risk.Principal); this package stores it.
package access

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kesempatan/riskmap/internal/postgres/core"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Store is the access subject of riskmap's storage: API keys and who they
// are (Authenticate), the audit log of household-level reads and its hash
// chain, erasure of a household on request or at the end of retention,
// and a household's own record (ExportHousehold). All of it runs on the
// primary's write pool: a key revoked there is revoked at once, and an
// audit entry is written before the answer it records.
type Store struct{ db *core.DB }

// New returns the access store over a core.
func New(db *core.DB) *Store { return &Store{db: db} }

// Key is a stored API key (without the key itself).
type Key struct {
	ID         int64
	Name       string
	Role       risk.Role
	Areas      []string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	RevokedAt  *time.Time
	LastUsedAt *time.Time
}

// CreateKey stores a new key's hash and returns the key, to be shown once.
func (st *Store) CreateKey(ctx context.Context, name, roleName string, areas []string, expires *time.Time) (string, Key, error) {
	role, err := risk.ParseRole(roleName)
	k := Key{Name: name, Role: role, Areas: areas, ExpiresAt: expires}
	if err != nil {
		return "", k, err
	}
	if role == risk.RoleStaff && len(areas) == 0 {
		return "", k, risk.Errorf(risk.EINVALID, "a staff key needs --area (kecamatan or village codes)")
	}
	for _, a := range areas {
		if !risk.IsAreaCode(a) {
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
	err = st.db.Pool.QueryRow(ctx, `INSERT INTO api_key (name, role, areas, key_hash, expires_at) VALUES ($1, $2, $3, $4, $5)
		RETURNING id, created_at`, name, string(role), areas, hash, expires).Scan(&k.ID, &k.CreatedAt)
	return key, k, err
}

// Keys lists every key, newest first.
func (st *Store) Keys(ctx context.Context) ([]Key, error) {
	rows, err := st.db.Pool.Query(ctx, `SELECT id, name, role, areas, created_at, expires_at, revoked_at, last_used_at FROM api_key ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Key, error) {
		var k Key
		var role string
		err := r.Scan(&k.ID, &k.Name, &role, &k.Areas, &k.CreatedAt, &k.ExpiresAt, &k.RevokedAt, &k.LastUsedAt)
		k.Role = risk.Role(role)
		return k, err
	})
}

// RevokeKey revokes a key at once.
func (st *Store) RevokeKey(ctx context.Context, id int64) error {
	tag, err := st.db.Pool.Exec(ctx, `UPDATE api_key SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return risk.Errorf(risk.ENOTFOUND, "no active key %d", id)
	}
	return nil
}

// Authenticate returns the principal of a key, or an ErrUnauthorized error
// when the key is unknown, expired or revoked. It reads; it notes when a key
// was last used at most once a minute, so a flood of requests (or of bad
// keys) is not a flood of writes.
func (st *Store) Authenticate(ctx context.Context, key string) (risk.Principal, error) {
	var p risk.Principal
	var role string
	var stale bool
	err := st.db.Pool.QueryRow(ctx, `
		SELECT id, name, role, areas, last_used_at IS NULL OR last_used_at < now() - interval '1 minute'
		FROM api_key WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
		risk.HashKey(key)).Scan(&p.KeyID, &p.Name, &role, &p.Areas, &stale)
	if errors.Is(err, pgx.ErrNoRows) {
		return risk.Public, risk.Errorf(ErrUnauthorized, "the API key is unknown, expired or revoked")
	}
	if err != nil {
		return risk.Public, core.Wrap(err)
	}
	p.Role = risk.Role(role)
	if stale {
		if _, err := st.db.Pool.Exec(ctx, `UPDATE api_key SET last_used_at = now() WHERE id = $1`, p.KeyID); err != nil {
			return risk.Public, core.Wrap(err)
		}
	}
	return p, nil
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
func (st *Store) Audit(ctx context.Context, p risk.Principal, route string, params map[string][]string, records int) error {
	var key *int64
	if p.KeyID != 0 {
		key = &p.KeyID
	}
	b, err := json.Marshal(params)
	if err != nil {
		return err
	}
	_, err = st.db.Pool.Exec(ctx, `INSERT INTO audit_log (key_id, role, route, params, records) VALUES ($1, $2, $3, $4, $5)`,
		key, string(p.Role), route, b, records)
	return core.Wrap(err)
}

// AuditSince returns the audit log since a time, oldest first.
func (st *Store) AuditSince(ctx context.Context, since time.Time) ([]AuditEntry, error) {
	rows, err := st.db.Pool.Query(ctx, `SELECT at, key_id, role, route, params, records FROM audit_log WHERE at >= $1 ORDER BY id`, since)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.At, &e.KeyID, &e.Role, &e.Route, &e.Params, &e.Records)
		return e, err
	})
}

// AuditChain is the result of verifying the audit log's hash chain.
type AuditChain struct {
	Rows   int
	Head   []byte // the hash of the newest row: keep it elsewhere to detect a rewrite later
	Broken string // the first problem, or ""
}

// VerifyAudit recomputes the audit log's hash chain (migration 006) row by
// row, oldest first: each row's hash must be SHA-256 of the previous hash
// and the row's canonical text, and the head must be the newest hash. A
// deleted, changed or reordered row breaks the chain from there on. The
// canonical text is computed by the same expression as the trigger's
// function, written out here so that a changed function is caught too.
// With expect (a hex head printed by an earlier run), that hash must still
// be one of the row hashes.
func (st *Store) VerifyAudit(ctx context.Context, expect string) (AuditChain, error) {
	found := expect == ""
	var c AuditChain
	rows, err := st.db.Pool.Query(ctx, `SELECT id, prev_hash, hash, convert_to(concat_ws('|', id,
		to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), coalesce(key_id::text, ''), role, route, params::text, records), 'UTF8')
		FROM audit_log ORDER BY id`)
	if err != nil {
		return c, core.Wrap(err)
	}
	defer rows.Close()
	prev := sha256.Sum256(nil)
	c.Head = prev[:]
	for rows.Next() {
		var id int64
		var p, h, text []byte
		if err := rows.Scan(&id, &p, &h, &text); err != nil {
			return c, err
		}
		c.Rows++
		want := sha256.Sum256(append(append([]byte{}, c.Head...), text...))
		switch {
		case c.Broken != "":
		case !bytes.Equal(p, c.Head):
			c.Broken = fmt.Sprintf("row %d: its previous hash is not the hash of the row before it (a row was removed or reordered)", id)
		case !bytes.Equal(h, want[:]):
			c.Broken = fmt.Sprintf("row %d: its hash does not match its content (the row was changed)", id)
		}
		c.Head = h
		if !found && fmt.Sprintf("%x", h) == strings.ToLower(expect) {
			found = true
		}
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	if !found && c.Broken == "" && fmt.Sprintf("%x", sha256.Sum256(nil)) != strings.ToLower(expect) {
		c.Broken = "the expected head " + expect + " is no longer in the chain (rows were removed or rewritten)"
	}
	var head []byte
	if err := st.db.Pool.QueryRow(ctx, `SELECT hash FROM audit_head`).Scan(&head); err != nil {
		return c, core.Wrap(err)
	}
	if c.Broken == "" && !bytes.Equal(head, c.Head) {
		c.Broken = "the head hash is not the newest row's hash (rows were removed from the end)"
	}
	return c, nil
}
