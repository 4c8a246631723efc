package amqp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/dsys-dev/dsys/queue/broker"
)

// NormalizeURL turns a Celery broker URL into one amqp091-go dials:
// pyamqp:// and py-amqp spellings become amqp://, "//" means vhost "/",
// missing user and password are guest/guest and a missing host is
// localhost. It rejects other transports (redis://, sqs://...).
func NormalizeURL(raw string) (string, error) {
	if raw == "" {
		return "amqp://guest:guest@localhost:5672/", nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, password included: say why without it.
		msg := err.Error()
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			msg = ue.Err.Error()
		}
		return "", fmt.Errorf("queue: broker URL %q: %s", broker.RedactURL(raw), msg)
	}
	switch strings.ToLower(u.Scheme) {
	case "amqp", "pyamqp", "py-amqp", "librabbitmq":
		u.Scheme = "amqp"
	case "amqps", "pyamqps":
		u.Scheme = "amqps"
	case "":
		return "", fmt.Errorf("queue: broker URL %q: missing scheme (want amqp:// or amqps://)", broker.RedactURL(raw))
	default:
		return "", fmt.Errorf("queue: broker URL %q: transport %q is not supported (want amqp://, pyamqp:// or amqps://)", broker.RedactURL(raw), u.Scheme)
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

// redact masks a URL's password (broker.RedactURL).
func redact(raw string) string { return broker.RedactURL(raw) }

// newID returns a random UUID4 string (consumer tags, reply queue names).
func newID() string { return uuid.NewString() }
