package checker

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicedb/sluice/internal/chaos/history"
)

// WriteFailure writes what a failed run needs to be understood and
// replayed into dir (created if missing): history.jsonl (the history),
// report.txt (Report.WriteText), seed (the run's seed, in decimal), and
// for each NotLinearizable violation porcupine's visualization,
// linearizability-<stream>-<partition>.html. It returns the paths written,
// in that order; without a report (nil), only the history and the seed.
// It writes every file it can and returns the errors joined.
func WriteFailure(dir string, seed int64, ops []history.Op, report *Report) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("checker: write failure: %w", err)
	}
	var paths []string
	var errs []error
	write := func(name string, fill func(*os.File) error) {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err == nil {
			err = fill(f)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("checker: write %s: %w", path, err))
			return
		}
		paths = append(paths, path)
	}
	write("history.jsonl", func(f *os.File) error { return history.WriteAll(f, ops) })
	if report != nil {
		write("report.txt", func(f *os.File) error { return report.WriteText(f) })
	}
	write("seed", func(f *os.File) error {
		_, err := f.WriteString(strconv.FormatInt(seed, 10) + "\n")
		return err
	})
	if report == nil {
		return paths, errors.Join(errs...)
	}
	for _, v := range report.Of(PropLinearizable) {
		if nl, ok := v.(*NotLinearizable); ok {
			name := fmt.Sprintf("linearizability-%s-%d.html", fileSafe(nl.Stream), nl.Partition)
			write(name, func(f *os.File) error { return nl.Visualize(f) })
		}
	}
	return paths, errors.Join(errs...)
}

// fileSafe replaces what a file name should not hold.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' {
			return r
		}
		return '_'
	}, s)
}
