package risk

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Role is what an API key may do. Every decision about who sees what is a
// method of Principal below; handlers and queries ask these, never compare
// role names.
type Role string

// Roles, from least to most trusted.
const (
	RolePublic  Role = "public"  // no key: published aggregates only
	RolePlanner Role = "planner" // published aggregates; geomasked household points, no household or child records
	RoleStaff   Role = "staff"   // household and child records within their areas
	RoleAdmin   Role = "admin"   // everything, keys and the audit log
)

// ParseRole returns the role named s: one a key can have (planner, staff,
// admin).
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RolePlanner, RoleStaff, RoleAdmin:
		return r, nil
	}
	return "", Errorf(EINVALID, "role %q: want planner, staff or admin", s)
}

// HouseholdView is how a principal sees households.
type HouseholdView int

const (
	NoHouseholds     HouseholdView = iota // households do not exist for them
	MaskedHouseholds                      // displaced points in published villages, no attributes
	ExactHouseholds                       // records with children, within Scope
)

// Principal is who is asking: the role and areas of an API key, or the public.
type Principal struct {
	KeyID int64 // 0 for the public
	Name  string
	Role  Role
	Areas []string // kecamatan or village codes (staff)
}

// Public is the principal of a request without a key.
var Public = Principal{Role: RolePublic}

// Households returns how the principal sees households.
func (p Principal) Households() HouseholdView {
	switch p.Role {
	case RoleStaff, RoleAdmin:
		return ExactHouseholds
	case RolePlanner:
		return MaskedHouseholds
	}
	return NoHouseholds
}

// SeesHouseholds reports whether the principal may see household records
// (exact points, scores, children).
func (p Principal) SeesHouseholds() bool { return p.Households() == ExactHouseholds }

// Scope returns the areas that bound what the principal reads of
// household-level data, extents and counts included: a staff key's areas;
// nil for everyone else (admins see all; planners see only masked points,
// which the publication already limits).
func (p Principal) Scope() []string {
	if p.Role == RoleStaff {
		return append([]string{}, p.Areas...)
	}
	return nil
}

// Covers reports whether a village (or area) code lies in the principal's
// areas; admins cover everything, the public and planners nothing.
func (p Principal) Covers(code string) bool {
	switch p.Role {
	case RoleAdmin:
		return true
	case RoleStaff:
		for _, a := range p.Areas {
			if code == a || strings.HasPrefix(code, a+".") {
				return true
			}
		}
	}
	return false
}

// ExactRanking reports whether the principal's village ranking for an area
// may come from exact counts (small-area estimates with no minimum sample
// or rounding): admins anywhere, staff within their areas; everyone else
// gets the published ranking.
func (p Principal) ExactRanking(area string) bool {
	switch p.Role {
	case RoleAdmin:
		return true
	case RoleStaff:
		return area != "" && p.Covers(area)
	}
	return false
}

// ReadsAudit reports whether the principal may read the audit log.
func (p Principal) ReadsAudit() bool { return p.Role == RoleAdmin }

// SharedCache reports whether responses to the principal may be kept by
// shared caches: only the public's, which hold published figures alone.
func (p Principal) SharedCache() bool { return p.Role == RolePublic }

// NewKey returns a new random API key and the hash to store. The key is
// shown once and never stored.
func NewKey() (key string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	key = "rk_" + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key), nil
}

// HashKey is the stored form of a key.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
