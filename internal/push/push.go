// Package push sends the field officers' work list to the servers their
// phones read: ODK Central, as the Entities of a dataset that the visit
// form reads offline (sessions, datasets and their properties, entity
// create, bulk create, update and delete, the OData entity feed), and
// KoBoToolbox, which has no entities, as a CSV media file of the form for
// select_one_from_file (asset files, then a redeploy so phones fetch it).
//
// A push is a sync, not a copy: it reads what the server holds and writes
// only the difference, so a second push with nothing changed writes
// nothing, and a push cut in the middle is finished by the next one.
package push

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/httpretry"
	"github.com/kesempatan/riskmap/internal/risk"
)

// Case is one open case as the work list carries it: no names, no NIK.
type Case struct {
	ID          int64
	Status      string
	Due         *time.Time
	Overdue     bool
	VillageCode string
	Village     string
	ProgrammeID string // the household's programme card number, "" when it has none
	Ordinal     int    // the child's place in the household's roster
	Age         int
	Sex         string // male or female
	Lon, Lat    float64
	LastVisit   *time.Time
	LastKind    string
	LastOutcome string
	LastActions []string
}

// Properties are the entity properties (and the CSV columns after name and
// label) in order. The visit form reads them by these names.
var Properties = []string{"case_id", "status", "due", "overdue", "village_code", "village", "programme_id",
	"child", "age", "sex", "last_visit", "last_kind", "last_outcome", "last_actions", "geometry"}

// Entity is a case as an ODK entity (or a row of the CSV list).
type Entity struct {
	UUID  string
	Label string
	Data  map[string]string
}

// CaseEntity builds the entity of a case. Its label is what the officer
// reads in the list: village, card number, the child by ordinal, age and
// sex, and the due date, in Bahasa Indonesia.
func CaseEntity(c Case) Entity {
	date := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	sex := map[string]string{"male": "L", "female": "P"}[c.Sex]
	card := c.ProgrammeID
	if card == "" {
		card = "tanpa kartu"
	}
	label := fmt.Sprintf("%s · %s · anak ke-%d (%d th, %s)", c.Village, card, c.Ordinal, c.Age, sex)
	if c.Due != nil {
		label += " · jatuh tempo " + date(c.Due)
	}
	yes := map[bool]string{true: "yes", false: "no"}
	return Entity{UUID: risk.CaseEntityID(c.ID), Label: label, Data: map[string]string{
		"case_id": strconv.FormatInt(c.ID, 10), "status": c.Status, "due": date(c.Due), "overdue": yes[c.Overdue],
		"village_code": c.VillageCode, "village": c.Village, "programme_id": c.ProgrammeID,
		"child": strconv.Itoa(c.Ordinal), "age": strconv.Itoa(c.Age), "sex": c.Sex,
		"last_visit": date(c.LastVisit), "last_kind": c.LastKind, "last_outcome": c.LastOutcome,
		"last_actions": strings.Join(c.LastActions, " "),
		// ODK's geopoint text: latitude, longitude, altitude, accuracy.
		"geometry": fmt.Sprintf("%.6f %.6f 0 0", c.Lat, c.Lon),
	}}
}

// InArea reports whether a village code lies in an area (the code itself or
// a kecamatan or kabupaten prefix).
func InArea(village string, areas []string) bool {
	for _, a := range areas {
		if village == a || strings.HasPrefix(village, a+".") {
			return true
		}
	}
	return false
}

// CSV writes entities as the list a select_one_from_file reads: name (the
// entity id), label, then the properties.
func CSV(entities []Entity) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(append([]string{"name", "label"}, Properties...))
	for _, e := range entities {
		row := []string{e.UUID, e.Label}
		for _, p := range Properties {
			row = append(row, e.Data[p])
		}
		w.Write(row)
	}
	w.Flush()
	return buf.Bytes()
}

// Stats is what a push did.
type Stats struct {
	Listed    int // entities of the area wanted on the server
	Created   int
	Updated   int
	Deleted   int
	Unchanged int
	// Kept counts entities whose last visit on the server is newer than the
	// database's (a visit sent from a phone and not pulled yet): their visit
	// fields are left as the phone wrote them.
	Kept int
	// Requests counts the HTTP requests that wrote something.
	Writes int
}

// Client talks to the servers with retries: a 5xx answer, 429 or a network
// error is tried again (Retries times, waiting Backoff, then twice as long
// each time); other answers are returned to the caller.
type Client struct {
	HTTP    *http.Client
	Retries int
	Backoff time.Duration
	// Chunk is the number of entities per bulk create.
	Chunk int
}

// NewClient returns a client with production settings.
func NewClient() *Client {
	return &Client{HTTP: &http.Client{Timeout: 2 * time.Minute}, Retries: 4, Backoff: 2 * time.Second, Chunk: 500}
}

// request is one HTTP request, retried on transient failures. It returns
// the final status and body; err only when no answer came.
func (c *Client) request(ctx context.Context, method, u string, header http.Header, body []byte) (int, []byte, error) {
	status, b, err := httpretry.Client{HTTP: c.HTTP, Retries: c.Retries, Backoff: c.Backoff}.Do(ctx, method, u, header, body)
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("%w; the next push finishes what this one began", err)
	}
	return status, b, err
}

var (
	redact  = httpretry.Redact
	snippet = httpretry.Snippet
)

func jsonBody(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// phoneIsNewer reports whether the server's entity holds a later visit
// than the database knows of: then the phone's visit fields stay.
func phoneIsNewer(server, want map[string]string) bool {
	return server["last_visit"] > want["last_visit"]
}

// differs reports whether the server's entity must be updated to want,
// leaving the visit fields alone when the phone's are newer.
func differs(label string, server map[string]string, want Entity, keepVisit bool) bool {
	if label != want.Label {
		return true
	}
	for _, p := range Properties {
		if keepVisit && slices.Contains(visitFields, p) {
			continue
		}
		if server[p] != want.Data[p] {
			return true
		}
	}
	return false
}

// visitFields are the properties the visit form updates on the phone.
var visitFields = []string{"last_visit", "last_kind", "last_outcome", "last_actions"}
