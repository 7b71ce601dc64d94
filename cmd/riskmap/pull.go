package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kesempatan/riskmap/internal/ingest"
	"github.com/kesempatan/riskmap/internal/postgres"
	"github.com/kesempatan/riskmap/internal/pull"
	"github.com/kesempatan/riskmap/internal/risk"
)

const pullSynopsis = `import kobo --server URL --asset UID --token-file FILE [--visits] [flags]
       riskmap import odk --server URL --project N --form ID --user EMAIL --password-file FILE [--visits] [flags]

Pulls the survey's submissions straight from KoBoToolbox (its v2 API) or ODK
Central (its OData feed), only those newer than the last pull, and loads them
as 'import survey' loads an export: the same validation, all-or-nothing
unless --reject-file, the same summary. Where the pull stopped is stored with
the submissions, in the same transaction; --full pulls everything again (a
re-import updates, never duplicates). Secrets are read from files, never
from the command line. --visits pulls the case visit form instead and loads
its submissions as 'import visits' does (the case picked from the work list
on the phone, checked against the case_id the form computed).`

// newPullClient is replaced by tests (short retry waits).
var newPullClient = pull.NewClient

func pullCmd(ctx context.Context, e *env, kind string, args []string) error {
	fs := e.flags("import "+kind, pullSynopsis)
	server := fs.String("server", "", "the server's base URL, e.g. https://kf.kobotoolbox.org or https://central.example.org (required)")
	rejectFile := fs.String("reject-file", "", "load the good submissions and write every rejected row, with its reason, to this CSV file")
	allowRejects := fs.Bool("allow-rejects", false, "with --reject-file: exit 0 although rows were rejected")
	full := fs.Bool("full", false, "pull every submission, not only those since the last pull")
	maxDist := fs.Float64("max-village-distance", 1000, "reject a household whose point lies more than this many metres from the village it names")
	round := fs.String("round", "", "the survey round of every submission (e.g. 2027-followup); default: each submission's round by its date")
	visits := fs.Bool("visits", false, "the form is the case visit form: load its submissions as visits")
	var asset, tokenFile, form, user, passwordFile *string
	var project *int
	if kind == "kobo" {
		asset = fs.String("asset", "", "the form's asset uid (required)")
		tokenFile = fs.String("token-file", "", "file holding the API token (required)")
	} else {
		project = fs.Int("project", 0, "the project's number (required)")
		form = fs.String("form", "", "the form's xmlFormId (required)")
		user = fs.String("user", "", "the account's e-mail address (required)")
		passwordFile = fs.String("password-file", "", "file holding the account's password (required)")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := func(flagName, file string) (string, error) { return readSecret("import "+kind, flagName, file) }
	if *server == "" {
		return fmt.Errorf("import %s: --server is required", kind)
	}
	db, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	client := newPullClient()
	var source, format string
	var res pull.Result
	switch kind {
	case "kobo":
		if *asset == "" {
			return errors.New("import kobo: --asset is required")
		}
		token, err := secret("token-file", *tokenFile)
		if err != nil {
			return err
		}
		source, format = "kobo:"+strings.TrimRight(*server, "/")+"/"+*asset, ingest.KoBo
		cursor, err := startCursor(ctx, db, source, *full)
		if err != nil {
			return err
		}
		res, err = client.PullKoBo(ctx, pull.KoBo{Server: *server, Asset: *asset, Token: token}, cursor)
		if err != nil {
			return fmt.Errorf("import kobo: %w", err)
		}
	default:
		if *project <= 0 || *form == "" || *user == "" {
			return errors.New("import odk: --project, --form and --user are required")
		}
		password, err := secret("password-file", *passwordFile)
		if err != nil {
			return err
		}
		source, format = fmt.Sprintf("odk:%s/%d/%s", strings.TrimRight(*server, "/"), *project, *form), ingest.ODK
		cursor, err := startCursor(ctx, db, source, *full)
		if err != nil {
			return err
		}
		res, err = client.PullODK(ctx, pull.ODK{Server: *server, Project: *project, Form: *form, User: *user, Password: password}, cursor)
		if err != nil {
			return fmt.Errorf("import odk: %w", err)
		}
	}
	if len(res.Submissions) == 0 {
		fmt.Fprintf(e.stdout, "no new submissions on %s since the last pull: nothing to import\n", source)
		return nil
	}
	if *visits {
		opt := postgres.ImportOptions{Partial: *rejectFile != ""}
		m, err := risk.DefaultModel()
		if err != nil {
			return err
		}
		var sum ingest.Summary
		vr, err := ingest.VisitsFromSubmissions(source, format, res.Submissions)
		if err == nil {
			sum, err = db.ImportPulledVisits(ctx, vr, m.Cases, opt, time.Now(), postgres.PullState{Source: source, Cursor: res.Cursor, Submissions: len(res.Submissions)})
		}
		fmt.Fprintf(e.stdout, "pulled %d visit(s) in %d page(s) from %s\n", len(res.Submissions), res.Pages, source)
		return finishImport(e, "visits", sum, err, *rejectFile, *allowRejects)
	}
	sv, err := ingest.SurveyFromSubmissions(source, format, res.Submissions)
	if err != nil {
		return err
	}
	opt := postgres.ImportOptions{Partial: *rejectFile != ""}
	m, err := db.CurrentModel(ctx)
	if err != nil {
		return err
	}
	in := postgres.SurveyImport{HouseholdFile: sv.HouseholdFile, ChildFile: sv.ChildFile, MaxVillageDistance: *maxDist,
		Households: sv.Households, Children: sv.Children, Identity: m.Identity,
		Pull: &postgres.PullState{Source: source, Cursor: res.Cursor, Submissions: len(res.Submissions)}, Round: *round}
	sum, err := db.ImportSurvey(ctx, in, opt)
	sum.Warnings = append(sv.Notes(), sum.Warnings...)
	fmt.Fprintf(e.stdout, "pulled %d submission(s) in %d page(s) from %s\n", len(res.Submissions), res.Pages, source)
	return finishImport(e, "survey", sum, err, *rejectFile, *allowRejects)
}

func startCursor(ctx context.Context, db *postgres.DB, source string, full bool) (string, error) {
	if full {
		return "", nil
	}
	return db.PullCursor(ctx, source)
}

// readSecret reads a token, password or key from the file a flag names:
// secrets never travel on the command line, where ps and shell history
// would keep them.
func readSecret(cmd, flagName, file string) (string, error) {
	if file == "" {
		return "", fmt.Errorf("%s: --%s is required", cmd, flagName)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s: %s is empty", cmd, file)
	}
	return s, nil
}
