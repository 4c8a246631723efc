package amqp

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"time"
)

// management asks RabbitMQ's management API (when enabled) for what AMQP
// cannot tell: a queue's unacknowledged message count.
type management struct {
	base       string // e.g. http://localhost:15672
	user, pass string
	vhost      string
	client     *http.Client
}

func newManagement(amqpURI, override string) *management {
	if override == "-" {
		return nil
	}
	u, err := url.Parse(amqpURI)
	if err != nil {
		return nil
	}
	m := &management{vhost: "/", client: &http.Client{Timeout: time.Second}}
	if len(u.Path) > 1 {
		m.vhost = u.Path[1:]
	}
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password()
	}
	if override != "" {
		m.base = override
	} else {
		scheme := "http"
		if u.Scheme == "amqps" {
			scheme = "https"
		}
		m.base = scheme + "://" + net.JoinHostPort(u.Hostname(), "15672")
	}
	return m
}

// unacked returns the queue's unacknowledged count, ok=false when the API
// does not answer (plugin not enabled, no permission, timeout).
func (m *management) unacked(ctx context.Context, queue string) (int, bool) {
	if m == nil {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		m.base+"/api/queues/"+url.PathEscape(m.vhost)+"/"+url.PathEscape(queue), nil)
	if err != nil {
		return 0, false
	}
	req.SetBasicAuth(m.user, m.pass)
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var body struct {
		Unacked *int `json:"messages_unacknowledged"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Unacked == nil {
		return 0, false
	}
	return *body.Unacked, true
}
