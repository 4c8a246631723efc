package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Template returns a YAML config documenting every key, as `dsys config
// init` writes it. Every key is commented out at its default, so the file
// changes nothing (config show still credits each value to default) until a
// line is uncommented; uncommenting a key's lines gives a valid setting.
func Template() []byte { return template(true) }

// template writes each key under its doc comment. With commented, "# "
// goes after the indentation of each of a key's lines, so that removing it
// gives template(false) line for line.
func template(commented bool) []byte {
	var b strings.Builder
	b.WriteString(`# dsys configuration. Every key is commented out at its built-in default:
# uncomment a line to set it.
# Precedence: command-line flags > DSYS_* environment variables > config files > built-in defaults.
# Files layer: /etc/dsys/config.yaml < ~/.config/dsys/config.yaml < ./dsys.yaml, each key taken
# from the strongest file that sets it; --config FILE or DSYS_CONFIG reads that one file instead.
# Every key can also be set in the environment: DSYS_ + the key upper-cased with dots as
# underscores, e.g. compute.workers -> DSYS_COMPUTE_WORKERS.
# "dsys config show" prints each key's effective value and where it came from.
`)
	def := Default()
	var open []string // sections currently open, outermost first
	for i, k := range keys {
		parts := strings.Split(k.Name, ".")
		sections, leaf := parts[:len(parts)-1], parts[len(parts)-1]
		common := 0
		for common < len(open) && common < len(sections) && open[common] == sections[common] {
			common++
		}
		for j := common; j < len(sections); j++ {
			if j == 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%s%s:\n", indent(j), sections[j])
		}
		if len(sections) == 0 && i == 0 {
			b.WriteString("\n")
		}
		open = sections
		in := indent(len(sections))
		fmt.Fprintf(&b, "%s# %s (%s)\n", in, k.Doc, k.Env)
		var lines []string
		value := yamlValue(k.Value(&def))
		switch {
		case k.Auto != "":
			lines = []string{fmt.Sprintf("%s: %s  # default: %s", leaf, value, k.Auto)}
		case k.Name == "queue.tasks":
			lines = append([]string{leaf + ":"}, strings.Split(tasksExample, "\n")...)
		default:
			lines = []string{leaf + ": " + value}
		}
		for _, l := range lines {
			if commented {
				l = "# " + l
			}
			b.WriteString(in + l + "\n")
		}
	}
	return []byte(b.String())
}

const tasksExample = `  # A built-in task under a Celery name (built-ins: add, mul, sum, echo, sleep, fail;
  # they are also served under their own names):
  - name: tasks.add
    builtin: add
  # A command task: positional args fill {0}, {1}...; kwargs fill {key}; no shell is involved.
  # - name: resize
  #   command: [convert, "{0}", -resize, "{1}", "{0}.small.png"]
  #   timeout: 60s
  #   retries: 3
  #   retry_backoff: 2s`

func indent(n int) string { return strings.Repeat("  ", n) }

// yamlValue renders a default value as YAML on one line (lists and maps in
// flow style), so that one "# " comments it out.
func yamlValue(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return FormatDuration(x)
	case fmt.Stringer:
		return x.String()
	}
	var node yaml.Node
	if err := node.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	node.Style = yaml.FlowStyle
	out, err := yaml.Marshal(&node)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(string(out), "\n")
}

// FormatDuration prints d like time.Duration.String without zero units:
// 24h rather than 24h0m0s.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
