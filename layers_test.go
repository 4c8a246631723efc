package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/dsys-dev/dsys"

// libraries are the packages that must not know the command line: these
// paths and everything below them.
var libraries = []string{module + "/msg", module + "/queue", module + "/compute"}

// cli is what a library must not import, directly or through another
// package: the command-line framework and dsys's own CLI layers.
var cli = []string{"github.com/spf13/cobra", "github.com/spf13/viper", "github.com/spf13/pflag", module + "/cmd", module + "/config"}

// under reports whether path is one of roots or below one.
func under(path string, roots []string) bool {
	for _, r := range roots {
		if path == r || strings.HasPrefix(path, r+"/") {
			return true
		}
	}
	return false
}

// pkgImports is one package of `go list`: what it imports, and what its
// tests import.
type pkgImports struct {
	imports, testImports []string
}

// layerViolations lists, for every library package, each CLI package it
// reaches: through its imports (transitively) or its tests' own imports,
// with the chain that leads there.
func layerViolations(graph map[string]pkgImports) []string {
	var out []string
	names := make([]string, 0, len(graph))
	for p := range graph {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, lib := range names {
		if !under(lib, libraries) {
			continue
		}
		// Breadth first, so the chain reported is a shortest one.
		prev := map[string]string{lib: ""}
		viaTest := map[string]bool{}
		var queue []string
		visit := func(next, from string, test bool) {
			if _, seen := prev[next]; !seen {
				prev[next], viaTest[next] = from, test
				queue = append(queue, next)
			}
		}
		for _, next := range graph[lib].imports {
			visit(next, lib, false)
		}
		for _, next := range graph[lib].testImports {
			visit(next, lib, true)
		}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if !under(p, cli) {
				for _, next := range graph[p].imports {
					visit(next, p, false)
				}
				continue
			}
			chain := []string{p}
			for q := p; prev[q] != lib; q = prev[q] {
				chain = append([]string{prev[q]}, chain...)
			}
			first := lib
			if viaTest[chain[0]] {
				first += " (test)"
			}
			out = append(out, fmt.Sprintf("%s imports %s: %s", lib, p, strings.Join(append([]string{first}, chain...), " -> ")))
		}
	}
	return out
}

// importGraph runs `go list -deps -test` for one GOOS: every package the
// module's packages need, with their imports.
func importGraph(t *testing.T, goos string) map[string]pkgImports {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list imports: %v", err)
	}
	cmd := exec.Command(gobin, "list", "-e", "-deps", "-f",
		"{{.ImportPath}}\t{{join .Imports \" \"}}\t{{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...")
	cmd.Env = append(os.Environ(), "GOOS="+goos, "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("GOOS=%s go list: %v\n%s", goos, err, stderr.String())
	}
	graph := map[string]pkgImports{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 {
			t.Fatalf("go list line %q", sc.Text())
		}
		graph[f[0]] = pkgImports{imports: strings.Fields(f[1]), testImports: strings.Fields(f[2])}
	}
	if len(graph) == 0 || graph[module+"/msg"].imports == nil {
		t.Fatalf("GOOS=%s go list found no %s/msg among %d packages", goos, module, len(graph))
	}
	return graph
}

// TestLibrariesDoNotImportTheCLI holds the layering (main -> cmd ->
// libraries) as restic's depguard rule does: msg, queue and compute take
// typed values and never import cobra, viper, pflag, cmd or config, on any
// of the systems dsys builds for.
func TestLibrariesDoNotImportTheCLI(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "windows"} {
		for _, v := range layerViolations(importGraph(t, goos)) {
			t.Errorf("GOOS=%s: %s", goos, v)
		}
	}
}

// TestLayerViolationsFindsEveryPath: the check catches a direct import, one
// through another package, and one from a library's tests, and lets the
// libraries use each other and internal helpers.
func TestLayerViolationsFindsEveryPath(t *testing.T) {
	graph := map[string]pkgImports{
		module + "/queue":            {imports: []string{"fmt", module + "/queue/wire"}},
		module + "/queue/wire":       {imports: []string{module + "/internal/helper"}},
		module + "/internal/helper":  {imports: []string{"github.com/spf13/viper"}},
		"github.com/spf13/viper":     {imports: []string{"github.com/spf13/pflag"}},
		module + "/compute":          {imports: []string{module + "/msg", "github.com/spf13/cobra"}},
		module + "/msg":              {imports: []string{"net"}, testImports: []string{module + "/internal/testenv", module + "/cmd"}},
		module + "/internal/testenv": {imports: []string{"os"}},
		module + "/cmd":              {imports: []string{module + "/config", module + "/msg"}},
		module + "/compute/npy":      {imports: []string{"os"}},
	}
	got := layerViolations(graph)
	want := []string{
		module + "/compute imports github.com/spf13/cobra: " + module + "/compute -> github.com/spf13/cobra",
		module + "/msg imports " + module + "/cmd: " + module + "/msg (test) -> " + module + "/cmd",
		module + "/queue imports github.com/spf13/viper: " + module + "/queue -> " + module + "/queue/wire -> " + module + "/internal/helper -> github.com/spf13/viper",
		module + "/queue/wire imports github.com/spf13/viper: " + module + "/queue/wire -> " + module + "/internal/helper -> github.com/spf13/viper",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
