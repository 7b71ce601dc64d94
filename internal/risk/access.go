package risk

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"
)

// Roles, from least to most trusted.
const (
	RolePublic  = "public"  // no key: aggregates only
	RolePlanner = "planner" // aggregates; no household or child records
	RoleStaff   = "staff"   // household records within their areas
	RoleAdmin   = "admin"   // everything, keys and the audit log
)

// Principal is who is asking: the role and areas of an API key, or the public.
type Principal struct {
	KeyID int64 // 0 for the public
	Name  string
	Role  string
	Areas []string // kecamatan or village codes (staff)
}

// Public is the principal of a request without a key.
var Public = Principal{Role: RolePublic}

// SeesHouseholds reports whether the principal may see household records at all.
func (p Principal) SeesHouseholds() bool { return p.Role == RoleStaff || p.Role == RoleAdmin }

// Covers reports whether a village code lies in the principal's areas
// (admins cover everything).
func (p Principal) Covers(village string) bool {
	if p.Role == RoleAdmin {
		return true
	}
	for _, a := range p.Areas {
		if village == a || strings.HasPrefix(village, a+".") {
			return true
		}
	}
	return false
}

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
