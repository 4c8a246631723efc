package amqp

import (
	"testing"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct{ in, host, user, pass, vhost, scheme string }{
		{"pyamqp://guest@localhost//", "localhost", "guest", "guest", "/", "amqp"},
		{"amqp://guest:guest@localhost:5672//", "localhost", "guest", "guest", "/", "amqp"},
		{"amqp://u:p@h:5673/v", "h", "u", "p", "v", "amqp"},
		{"amqp://h", "h", "guest", "guest", "/", "amqp"},
		{"amqps://u:p@h/", "h", "u", "p", "/", "amqps"},
		{"", "localhost", "guest", "guest", "/", "amqp"},
	}
	for _, tt := range tests {
		got, err := NormalizeURL(tt.in)
		if err != nil {
			t.Errorf("NormalizeURL(%q): %v", tt.in, err)
			continue
		}
		uri, err := amqp091.ParseURI(got)
		if err != nil {
			t.Errorf("NormalizeURL(%q) = %q: amqp091 rejects it: %v", tt.in, got, err)
			continue
		}
		if uri.Host != tt.host || uri.Username != tt.user || uri.Password != tt.pass || uri.Vhost != tt.vhost || uri.Scheme != tt.scheme {
			t.Errorf("NormalizeURL(%q) = %q → %+v", tt.in, got, uri)
		}
	}
	for _, bad := range []string{"redis://localhost", "localhost:5672", "::"} {
		if _, err := NormalizeURL(bad); err == nil {
			t.Errorf("NormalizeURL(%q) accepted", bad)
		}
	}
	if s := redact("amqp://u:secret@h/"); s != "amqp://u:****@h/" {
		t.Errorf("redact = %q, want the password masked as dsys config show masks it", s)
	}
}
