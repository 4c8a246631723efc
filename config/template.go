package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Template returns a commented YAML config holding every key at its
// default, as `dsys config init` writes it. Keys whose default depends on
// the machine are written commented out, so the file travels well.
func Template() []byte {
	var b strings.Builder
	b.WriteString(`# dsys configuration.
# Precedence: command-line flags > DSYS_* environment variables > this file > built-in defaults.
# Every key can also be set in the environment: DSYS_ + the key upper-cased with dots as
# underscores, e.g. compute.workers -> DSYS_COMPUTE_WORKERS.
# "dsys config show" prints each key's effective value and where it came from.
`)
	def := Default()
	var open []string // sections currently open, outermost first
	for _, k := range keys {
		parts := strings.Split(k.Name, ".")
		sections, leaf := parts[:len(parts)-1], parts[len(parts)-1]
		common := 0
		for common < len(open) && common < len(sections) && open[common] == sections[common] {
			common++
		}
		for i := common; i < len(sections); i++ {
			if i == 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "%s%s:\n", indent(i), sections[i])
		}
		open = sections
		in := indent(len(sections))
		fmt.Fprintf(&b, "%s# %s (%s)\n", in, k.Doc, k.Env)
		value := yamlValue(k.Value(&def))
		switch {
		case k.Auto != "":
			fmt.Fprintf(&b, "%s# %s: %s  # default: %s\n", in, leaf, strings.TrimSpace(value), k.Auto)
		case k.Name == "queue.tasks":
			fmt.Fprintf(&b, "%s%s:%s\n", in, leaf, strings.ReplaceAll(tasksExample, "\n", "\n"+in))
		default:
			if strings.Contains(value, "\n") {
				fmt.Fprintf(&b, "%s%s:\n", in, leaf)
				for _, l := range strings.Split(strings.TrimRight(value, "\n"), "\n") {
					fmt.Fprintf(&b, "%s  %s\n", in, l)
				}
			} else {
				fmt.Fprintf(&b, "%s%s: %s\n", in, leaf, value)
			}
		}
	}
	return []byte(b.String())
}

const tasksExample = `
  # A built-in task under a Celery name (built-ins: add, mul, sum, echo, sleep, fail;
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

// yamlValue renders a default value as YAML: one line for scalars and empty
// collections, block form for lists.
func yamlValue(v any) string {
	switch x := v.(type) {
	case time.Duration:
		return FormatDuration(x)
	case fmt.Stringer:
		return x.String()
	case map[string]string:
		if len(x) == 0 {
			return "{}"
		}
	case []string:
		if len(x) == 0 {
			return "[]"
		}
		out, _ := yaml.Marshal(x)
		return string(out)
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	s := string(out)
	if strings.Count(s, "\n") == 1 {
		return strings.TrimSuffix(s, "\n")
	}
	return s
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
