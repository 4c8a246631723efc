package config

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite generated files (the README's configuration reference)")

// referenceTable renders every key as a row of the README's reference.
func referenceTable() string {
	var b strings.Builder
	b.WriteString("| key | environment variable | default | meaning |\n| --- | --- | --- | --- |\n")
	def := Default()
	for _, k := range Keys() {
		d := publicValue(k, k.Value(&def))
		value := "`" + display(d) + "`"
		switch {
		case k.Auto != "":
			value = k.Auto
		case display(d) == "" || display(d) == "[]":
			value = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s |\n", k.Name, k.Env, value, strings.ReplaceAll(k.Doc, "|", "\\|"))
	}
	return b.String()
}

// TestREADMEConfigReference keeps the README's key table in step with the
// code: run `go test ./config -run README -update` after adding a key.
func TestREADMEConfigReference(t *testing.T) {
	const path = "../README.md"
	const begin, end = "<!-- config-reference:begin -->\n", "<!-- config-reference:end -->"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README lacks the %q … %q markers", begin, end)
	}
	want := referenceTable()
	if got := s[i+len(begin) : j]; got != want {
		if !*update {
			t.Fatalf("the README's configuration reference is stale: run go test ./config -run README -update")
		}
		s = s[:i+len(begin)] + want + s[j:]
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
