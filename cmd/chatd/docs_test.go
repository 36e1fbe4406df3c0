package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// testRefRE matches a test cited in a document, as `cmd/chatd.TestName`
// or `room.FuzzName`.
var testRefRE = regexp.MustCompile("`((?:cmd/)?[a-z]+)\\.((?:Test|Fuzz|Benchmark)\\w+)`")

// TestSecurityDocNamesRealTests keeps docs/SECURITY.md honest: every test it
// cites as proof must exist.
func TestSecurityDocNamesRealTests(t *testing.T) {
	checkDocNamesRealTests(t, "docs/SECURITY.md", 20)
}

// TestLabDocNamesRealTests keeps docs/LAB.md honest: every test an exercise
// says proves it must exist.
func TestLabDocNamesRealTests(t *testing.T) {
	checkDocNamesRealTests(t, "docs/LAB.md", 4)
}

// checkDocNamesRealTests fails t for each test doc (a path from the
// repository's root) cites that no package defines, and if it cites fewer
// than atLeast.
func checkDocNamesRealTests(t *testing.T, doc string, atLeast int) {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("../..", doc))
	if err != nil {
		t.Fatal(err)
	}
	refs := testRefRE.FindAllStringSubmatch(string(text), -1)
	if len(refs) < atLeast {
		t.Fatalf("%s cites only %d tests", doc, len(refs))
	}
	for _, ref := range refs {
		if pkg, name := ref[1], ref[2]; !testExists(pkg, name) {
			t.Errorf("%s cites %s.%s, which does not exist", doc, pkg, name)
		}
	}
}

// testExists tells whether a _test.go file of pkg (a path from the
// repository's root) defines the function name.
func testExists(pkg, name string) bool {
	files, _ := filepath.Glob(filepath.Join("../..", pkg, "*_test.go"))
	for _, f := range files {
		src, _ := os.ReadFile(f)
		if strings.Contains(string(src), "\nfunc "+name+"(") {
			return true
		}
	}
	return false
}
