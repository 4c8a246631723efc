package control

import (
	"os"
	"strings"
)

// NodeName expands a worker node name as Celery's worker does with -n: a
// name without "@" gets "celery@" in front, then %h is the host name, %n
// its first label and %d the rest (the domain). "" is "celery@%h".
func NodeName(format string) string {
	host, _ := os.Hostname()
	return nodeName(format, host)
}

func nodeName(format, host string) string {
	if format == "" {
		format = "%h"
	}
	if !strings.Contains(format, "@") {
		format = "celery@" + format
	}
	name, domain, _ := strings.Cut(host, ".")
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		if format[i] != '%' || i+1 == len(format) {
			b.WriteByte(format[i])
			continue
		}
		switch format[i+1] {
		case 'h':
			b.WriteString(host)
		case 'n':
			b.WriteString(name)
		case 'd':
			b.WriteString(domain)
		default:
			b.WriteString(format[i : i+2])
		}
		i++
	}
	return b.String()
}
