package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEPythonIsDebians: outside the subsystems' own sections, every
// command in the README that runs Python names Debian's /usr/bin/python3,
// the one with python3-zmq, -celery, -numpy and -dask; the first python3
// on PATH may be another.
func TestREADMEPythonIsDebians(t *testing.T) {
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	general := regexp.MustCompile(`(?s)<!-- (\w+):begin -->.*?<!-- (\w+):end -->`).ReplaceAllString(string(data), "")
	bare := regexp.MustCompile("(^|[\\s`(|;&])python3?( |$)")
	for i, line := range strings.Split(general, "\n") {
		if bare.MatchString(line) {
			t.Errorf("README (general sections) line %d runs a bare python: %q", i+1, line)
		}
	}
}
