package queue

import (
	"fmt"
	"net/url"
	"strings"
)

// NormalizeURL turns a Celery broker URL into one amqp091-go dials:
// pyamqp:// and py-amqp spellings become amqp://, "//" means vhost "/",
// missing user and password are guest/guest and a missing host is
// localhost. It rejects transports other than AMQP (redis://, sqs://...).
func NormalizeURL(raw string) (string, error) {
	if raw == "" {
		return "amqp://guest:guest@localhost:5672/", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("queue: broker URL: %w", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "amqp", "pyamqp", "py-amqp", "librabbitmq":
		u.Scheme = "amqp"
	case "amqps", "pyamqps":
		u.Scheme = "amqps"
	case "":
		return "", fmt.Errorf("queue: broker URL %q: missing scheme (want amqp:// or amqps://)", redact(raw))
	default:
		return "", fmt.Errorf("queue: broker URL %q: transport %q is not supported (want amqp://, pyamqp:// or amqps://)", redact(raw), u.Scheme)
	}
	if u.Host == "" {
		u.Host = "localhost"
	}
	if u.User == nil {
		u.User = url.UserPassword("guest", "guest")
	} else if _, ok := u.User.Password(); !ok {
		name := u.User.Username()
		if name == "" {
			name = "guest"
		}
		u.User = url.UserPassword(name, "guest")
	}
	return u.String(), nil
}

// redact hides a URL's password for messages and logs, masked as "****"
// as `dsys config show` masks it (config.RedactURL, which this library
// cannot import).
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); !ok {
		return raw
	}
	u.User = url.UserPassword(u.User.Username(), "****")
	// UserPassword escapes '*'; show the mask as typed.
	return strings.Replace(u.String(), url.QueryEscape("****"), "****", 1)
}
