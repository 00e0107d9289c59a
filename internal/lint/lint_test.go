// Package lint checks project rules that go vet and staticcheck do not:
// the file-size cap, forbidden imports, panics, init functions and raw
// atomics. It runs as an ordinary test.
package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const maxLines = 1500

var forbiddenImports = map[string]string{
	"github.com/pkg/errors":  "use the standard errors package",
	"github.com/urfave/cli":  "use github.com/urfave/cli/v2",
	"io/ioutil":              "deprecated; use io and os",
	"github.com/boltdb/bolt": "Pebble is the store",
}

// repoFiles returns every .go file of the module, skipping testdata.
func repoFiles(t *testing.T) []string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found only %d Go files under %s", len(files), root)
	}
	return files
}

func TestProjectRules(t *testing.T) {
	fset := token.NewFileSet()
	for _, path := range repoFiles(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), "Code generated") && strings.Contains(string(src), "DO NOT EDIT") {
			continue // generated code follows its generator's rules, not ours
		}
		if n := strings.Count(string(src), "\n"); n > maxLines {
			t.Errorf("%s: %d lines, over the cap of %d: split it by responsibility", path, n, maxLines)
		}
		f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if why, ok := forbiddenImports[p]; ok {
				t.Errorf("%s: imports %s: %s", fset.Position(imp.Pos()), p, why)
			}
		}
		isTest := strings.HasSuffix(path, "_test.go")
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				if n.Recv == nil && n.Name.Name == "init" {
					t.Errorf("%s: init function: wire state explicitly", fset.Position(n.Pos()))
				}
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "panic" && !isTest {
					t.Errorf("%s: panic: return an error (internal/invariants for assertions)", fset.Position(n.Pos()))
				}
				if sel, ok := n.Fun.(*ast.SelectorExpr); ok {
					if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "atomic" &&
						(strings.HasPrefix(sel.Sel.Name, "Add") || strings.HasPrefix(sel.Sel.Name, "Load") ||
							strings.HasPrefix(sel.Sel.Name, "Store") || strings.HasPrefix(sel.Sel.Name, "CompareAndSwap")) {
						t.Errorf("%s: raw atomic.%s: use the typed atomics", fset.Position(n.Pos()), sel.Sel.Name)
					}
				}
			}
			return true
		})
	}
}
