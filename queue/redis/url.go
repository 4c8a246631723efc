package redis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsys-dev/dsys/queue/broker"
)

// IsURL reports whether raw names a Redis server (redis:// or rediss://).
func IsURL(raw string) bool {
	s := strings.ToLower(raw)
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://")
}

// parseURL reads a Celery/kombu Redis URL:
// redis://[[user]:password@]host[:port][/db] or rediss://… for TLS. A
// missing host is localhost, a missing port 6379, a missing db (or "/") 0.
// Celery's ssl_cert_reqs query parameter is accepted (none/CERT_NONE skips
// verification); other TLS settings come from Options.TLS.
func parseURL(raw string) (*goredis.Options, bool, error) {
	u, err := url.Parse(raw)
	if err != nil {
		msg := err.Error()
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			msg = ue.Err.Error() // url.Error repeats the URL, password included
		}
		return nil, false, fmt.Errorf("queue: Redis URL %q: %s", broker.RedactURL(raw), msg)
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "redis" && scheme != "rediss" {
		return nil, false, fmt.Errorf("queue: Redis URL %q: want redis:// or rediss://", broker.RedactURL(raw))
	}
	u.Scheme = scheme
	if u.Host == "" {
		u.Host = "localhost"
	}
	if u.Path == "/" {
		u.Path = ""
	}
	insecure := false
	q := u.Query()
	if v := q.Get("ssl_cert_reqs"); v != "" {
		switch strings.ToLower(v) {
		case "none", "cert_none":
			insecure = true
		case "required", "cert_required", "optional", "cert_optional":
		default:
			return nil, false, fmt.Errorf("queue: Redis URL %q: ssl_cert_reqs %q: want required, optional or none", broker.RedactURL(raw), v)
		}
		q.Del("ssl_cert_reqs")
		u.RawQuery = q.Encode()
	}
	opts, err := goredis.ParseURL(u.String())
	if err != nil {
		return nil, false, fmt.Errorf("queue: Redis URL %q: %s", broker.RedactURL(raw), strings.TrimPrefix(err.Error(), "redis: "))
	}
	return opts, insecure, nil
}
