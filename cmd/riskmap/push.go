package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/push"
	"github.com/kesempatan/riskmap/internal/risk"
)

// newPushClient is the client pushes use; tests shorten its backoff.
var newPushClient = push.NewClient

// casesPushCmd sends an area's work list to ODK Central (entities) or
// KoBoToolbox (a CSV media file). Household points leave the database, so
// the push is audited as a staff read of household data: who, which area,
// and how many cases' records were written to the server.
func casesPushCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "odk" && args[0] != "kobo") {
		fmt.Fprintf(e.stderr, "Usage: riskmap %s\n", casesSynopsis)
		return fmt.Errorf("cases push: want odk or kobo")
	}
	target := args[0]
	fs := e.flags("cases push "+target, casesSynopsis)
	server := fs.String("server", "", "the server's address, e.g. https://central.example.org (required)")
	area := fs.String("area", "", "the kabupaten, kecamatan or village code whose cases go (required)")
	keyFile := fs.String("key-file", "", "file holding a staff API key: the push must lie in its areas and is audited under it")
	var project *int
	var user, passwordFile, dataset, asset, tokenFile, file *string
	if target == "odk" {
		project = fs.Int("project", 0, "the Central project's numeric id (required)")
		user = fs.String("user", "", "the account's email; it needs the Project Manager role (required)")
		passwordFile = fs.String("password-file", "", "file holding the account's password (required)")
		dataset = fs.String("dataset", "cases", "the entity list the visit form reads")
	} else {
		asset = fs.String("asset", "", "the visit form's asset uid (required)")
		tokenFile = fs.String("token-file", "", "file holding the API token (required)")
		file = fs.String("file", "cases.csv", "the media file's name, as the form's select_one_from_file names it")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *server == "" || *area == "" || (target == "odk" && (*project <= 0 || *user == "" || *passwordFile == "")) ||
		(target == "kobo" && (*asset == "" || *tokenFile == "")) {
		fs.Usage()
		return fmt.Errorf("cases push %s: --server, --area and the account flags are required", target)
	}
	if !risk.ValidAreaCode(*area) {
		return fmt.Errorf("cases push %s: --area %q is not a kabupaten, kecamatan or village code", target, *area)
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	who := risk.Principal{Role: risk.RoleAdmin, Name: "console"}
	if *keyFile != "" {
		key, err := readSecret("cases push "+target, "key-file", *keyFile)
		if err != nil {
			return err
		}
		if who, err = db.Authenticate(ctx, key); err != nil {
			return err
		}
		if !who.SeesHouseholds() || !who.Covers(*area) {
			return fmt.Errorf("cases push %s: the key of %s (%s%s) may not carry the cases of %s", target, who.Name, who.Role, areasText(who.Areas), *area)
		}
	}
	fcs, err := db.FieldCases(ctx, []string{*area}, time.Now())
	if err != nil {
		return err
	}
	want := make([]push.Entity, len(fcs))
	for i, c := range fcs {
		want[i] = push.CaseEntity(fieldCase(c))
	}
	client := newPushClient()
	params := map[string][]string{"area": {*area}, "server": {*server}, "target": {target}}
	var sent int
	if target == "odk" {
		password, err := readSecret("cases push "+target, "password-file", *passwordFile)
		if err != nil {
			return err
		}
		params["project"] = []string{strconv.Itoa(*project)}
		params["dataset"] = []string{*dataset}
		st, err := client.PushCentral(ctx, push.Central{Server: *server, Project: *project, Dataset: *dataset, Email: *user, Password: password}, []string{*area}, want)
		sent = st.Created + st.Updated
		if aerr := db.Audit(ctx, who, "cli: cases push odk", params, sent); aerr != nil && err == nil {
			err = aerr
		}
		if err != nil {
			return fmt.Errorf("cases push odk: %w (written before it stopped: %d created, %d updated, %d deleted)", err, st.Created, st.Updated, st.Deleted)
		}
		fmt.Fprintf(e.stdout, "%s: %d case(s) on the list of dataset %q: %d created, %d updated, %d unchanged, %d removed (closed or lost); %d write request(s)\n",
			*area, st.Listed, *dataset, st.Created, st.Updated, st.Unchanged, st.Deleted, st.Writes)
		if st.Kept > 0 {
			fmt.Fprintf(e.stdout, "%d case(s) have a visit on the server newer than the database's: pull and import visits to bring them in\n", st.Kept)
		}
		return nil
	}
	token, err := readSecret("cases push "+target, "token-file", *tokenFile)
	if err != nil {
		return err
	}
	params["asset"] = []string{*asset}
	st, err := client.PushKoBo(ctx, push.KoBo{Server: *server, Asset: *asset, Token: token, File: *file}, push.CSV(want), len(want))
	if !st.Unchanged {
		sent = len(want)
	}
	if aerr := db.Audit(ctx, who, "cli: cases push kobo", params, sent); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return fmt.Errorf("cases push kobo: %w", err)
	}
	switch {
	case st.Unchanged:
		fmt.Fprintf(e.stdout, "%s: the form's %s already holds these %d case(s); nothing written\n", *area, *file, st.Rows)
	default:
		fmt.Fprintf(e.stdout, "%s: uploaded %s with %d case(s), %d bytes%s%s\n", *area, *file, st.Rows, st.Bytes,
			map[bool]string{true: ", replacing the old list", false: ""}[st.Replaced],
			map[bool]string{true: "; form redeployed so phones fetch it", false: "; the form is not deployed yet"}[st.Redeployed])
	}
	return nil
}

func fieldCase(c postgres.FieldCase) push.Case {
	card := ""
	if c.ProgrammeID != nil {
		card = strings.TrimSpace(*c.ProgrammeID)
	}
	return push.Case{ID: c.ID, Status: c.Status, Due: c.NextDue, Overdue: c.Overdue, VillageCode: c.VillageCode, Village: c.Village,
		ProgrammeID: card, Ordinal: c.Ordinal, Age: c.Age, Sex: c.Sex, Lon: c.Lon, Lat: c.Lat,
		LastVisit: c.LastVisit, LastKind: c.LastKind, LastOutcome: c.LastOutcome, LastActions: c.LastActions}
}
