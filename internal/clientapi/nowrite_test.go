package clientapi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// writeForbidden lists what the client API's handlers must not reach,
// with the reason: handlers never write to the database, services do
// (ARCHITECTURE.md).
var writeForbidden = map[string]string{
	"database/sql": "handlers do not talk to the database; services do",
}

// storeImport is the storage package. Handlers may read through it (its
// types and read methods), but store.Tx is the only way into a write
// transaction, so naming it is writing.
const storeImport = "github.com/hafenchat/hafen/internal/store"

// TestHandlersNeverWrite checks every non-test Go file of clientapi (and
// any package below it): none imports database/sql, and none names
// store.Tx, which every write function of the store takes and every
// DB.Write callback receives.
func TestHandlersNeverWrite(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, msg := range writeViolations(fset, f) {
			t.Error(msg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("no Go files checked")
	}
}

// writeViolations returns one message per forbidden import or use of
// store.Tx in f.
func writeViolations(fset *token.FileSet, f *ast.File) []string {
	var out []string
	storeName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if why, bad := writeForbidden[path]; bad {
			out = append(out, fset.Position(imp.Pos()).String()+": imports "+path+": "+why)
		}
		if path == storeImport {
			storeName = "store"
			if imp.Name != nil {
				storeName = imp.Name.Name
			}
		}
	}
	if storeName == "" {
		return out
	}
	if storeName == "." || storeName == "_" {
		return append(out, fset.Position(f.Package).String()+": imports the store as "+storeName)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && x.Name == storeName && sel.Sel.Name == "Tx" {
			out = append(out, fset.Position(sel.Pos()).String()+": names store.Tx: handlers never write to the database; call a service")
		}
		return true
	})
	return out
}

// TestWriteViolationsFindsWrites checks the checker on a handler that
// writes, so that TestHandlersNeverWrite cannot pass by finding nothing.
func TestWriteViolationsFindsWrites(t *testing.T) {
	src := `package clientapi

import (
	"database/sql"
	st "github.com/hafenchat/hafen/internal/store"
)

var _ *sql.DB

func forget(db *st.DB) error {
	return db.Write(nil, func(tx *st.Tx) error { return nil })
}
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "x.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := writeViolations(fset, f)
	if len(got) != 2 {
		t.Fatalf("writeViolations = %q, want the database/sql import and the store.Tx use", got)
	}
}
