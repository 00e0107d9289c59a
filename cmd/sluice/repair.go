package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/urfave/cli/v2"

	"github.com/sluicedb/sluice/server"
)

func repairCommand() *cli.Command {
	return &cli.Command{
		Name:  "repair",
		Usage: "check a stopped node's data and reset damaged replicas, to be refilled from their peers",
		Description: "A node that finds a damaged replica (a segment failing its checks) refuses to run and names\n" +
			"the file and position. Stop it, then run repair on its data directory. Every replica is checked;\n" +
			"each damaged one is moved under DIR/repair/<time>/ (with everything readable in it and a\n" +
			"REPAIR.txt) and reset, so that when the node starts again the partition's leader refills it\n" +
			"from the other replicas. A partition with no other replica is left as it is. Repair one node\n" +
			"of a partition at a time, while the others are healthy. --dry-run reports and changes nothing.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "data-dir", Usage: "the stopped node's data `DIR` (required)", EnvVars: []string{envName("data-dir")}},
			&cli.BoolFlag{Name: "dry-run", Usage: "check and report what repair would do; change nothing"},
			outputFlag(),
		},
		Action: repair,
	}
}

// errRepairRefused reports damaged replicas that repair left as they are.
type errRepairRefused struct{ n int }

func (e errRepairRefused) Error() string {
	return fmt.Sprintf("repair: %s left as found: no other replica to refill from (see above)", plural(e.n, "damaged replica"))
}

func repair(c *cli.Context) error {
	if err := checkArgs(c); err != nil {
		return err
	}
	dir := c.String("data-dir")
	if dir == "" {
		return usagef("repair: --data-dir is required")
	}
	format, err := outputFormat(c)
	if err != nil {
		return err
	}
	dry := c.Bool("dry-run")
	report, err := server.Repair(server.RepairConfig{DataDir: dir, DryRun: dry,
		Logger: slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if report != nil {
		if perr := printRepair(c.App.Writer, format, dir, dry, report); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		return err
	}
	refused := 0
	for _, d := range report.Damaged {
		if d.Refused != nil {
			refused++
		}
	}
	if refused > 0 {
		return errRepairRefused{refused}
	}
	return nil
}

func printRepair(w io.Writer, format, dir string, dry bool, r *server.RepairReport) error {
	if format == "json" {
		type damaged struct {
			Partition   string   `json:"partition"`
			Incarnation uint64   `json:"incarnation"`
			Dir         string   `json:"dir"`
			Damage      string   `json:"damage"`
			Voters      []string `json:"voters"`
			Action      string   `json:"action"`
			Refused     string   `json:"refused,omitempty"`
			MovedTo     string   `json:"moved_to,omitempty"`
		}
		out := struct {
			DataDir    string    `json:"data_dir"`
			DryRun     bool      `json:"dry_run"`
			Checked    int       `json:"checked"`
			Damaged    []damaged `json:"damaged"`
			Quarantine string    `json:"quarantine,omitempty"`
		}{DataDir: dir, DryRun: dry, Checked: r.Checked, Damaged: []damaged{}, Quarantine: r.Quarantine}
		for _, d := range r.Damaged {
			j := damaged{Partition: d.Partition, Incarnation: d.Incarnation, Dir: d.Dir, Damage: d.Damage.Error(),
				Voters: d.Voters, Action: repairAction(d, dry), MovedTo: d.MovedTo}
			if d.Refused != nil {
				j.Refused = d.Refused.Error()
			}
			out.Damaged = append(out.Damaged, j)
		}
		return writeJSON(w, out)
	}
	what := "checked"
	if dry {
		what = "checked (dry run: nothing changed)"
	}
	if _, err := fmt.Fprintf(w, "%s %s in %s: %d damaged\n", what, plural(r.Checked, "replica"), dir, len(r.Damaged)); err != nil {
		return err
	}
	for _, d := range r.Damaged {
		voters := "none known"
		if len(d.Voters) > 0 {
			voters = fmt.Sprint(d.Voters)
		}
		if _, err := fmt.Fprintf(w, "partition %s (incarnation %d):\n  damage: %v\n  replicas: %s\n  %s\n",
			d.Partition, d.Incarnation, d.Damage, voters, repairAction(d, dry)); err != nil {
			return err
		}
	}
	return nil
}

// repairAction says in a line what repair did (or would do) with d.
func repairAction(d server.DamagedReplica, dry bool) string {
	switch {
	case d.Refused != nil:
		return "left as found: " + d.Refused.Error()
	case dry:
		return "would reset it: move " + d.Dir + " aside, then the other replicas refill it when the node starts"
	default:
		return "reset: moved to " + d.MovedTo + "; the other replicas refill it when the node starts"
	}
}
