package msg

import (
	"crypto/subtle"
	"fmt"
	"io"

	"github.com/go-zeromq/zmq4"
)

// PlainAuth configures ZMTP PLAIN authentication (RFC 24). Connections a
// socket dials present User and Password; connections it accepts are
// verified against Users (user → password), or against the single
// User/Password pair when Users is empty. A refused client gets an ERROR
// command ("400", as libzmq's ZAP sends) and the server logs the refusal.
//
// PLAIN sends the password in clear: use it on trusted networks only.
type PlainAuth struct {
	User, Password string
	Users          map[string]string
}

func (a *PlainAuth) verify(user, pass []byte) bool {
	want, ok := a.Users[string(user)]
	if len(a.Users) == 0 {
		want, ok = a.Password, string(user) == a.User
	}
	if !ok {
		// Compare anyway so timing does not reveal which users exist.
		subtle.ConstantTimeCompare(pass, pass)
		return false
	}
	return subtle.ConstantTimeCompare(pass, []byte(want)) == 1
}

// plainMechanism is a zmq4.Security that really checks credentials
// (zmq4's own PLAIN server accepts any).
type plainMechanism struct {
	auth *PlainAuth
	err  error // the authentication failure, reported as is
}

func (*plainMechanism) Type() zmq4.SecurityType { return zmq4.PlainSecurity }

func (*plainMechanism) Encrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }
func (*plainMechanism) Decrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }

func (m *plainMechanism) Handshake(c *zmq4.Conn, server bool) error {
	if server {
		return m.serve(c)
	}
	return m.client(c)
}

func (m *plainMechanism) serve(c *zmq4.Conn) error {
	cmd, err := c.RecvCmd()
	if err != nil {
		return fmt.Errorf("plain: reading HELLO: %w", err)
	}
	if cmd.Name != zmq4.CmdHello {
		return fmt.Errorf("%w: plain: expected HELLO, got %q", ErrProtocol, cmd.Name)
	}
	user, pass, err := parseHello(cmd.Body)
	if err != nil {
		return err
	}
	if !m.auth.verify(user, pass) {
		_ = c.SendCmd(zmq4.CmdError, errorBody("400"))
		m.err = fmt.Errorf("%w: PLAIN user %q: wrong user name or password", ErrAuth, user)
		return m.err
	}
	if err := c.SendCmd(zmq4.CmdWelcome, nil); err != nil {
		return fmt.Errorf("plain: sending WELCOME: %w", err)
	}
	cmd, err = c.RecvCmd()
	if err != nil {
		return fmt.Errorf("plain: reading INITIATE: %w", err)
	}
	if cmd.Name != zmq4.CmdInitiate {
		return fmt.Errorf("%w: plain: expected INITIATE, got %q", ErrProtocol, cmd.Name)
	}
	if err := c.Peer.Meta.UnmarshalZMTP(cmd.Body); err != nil {
		return fmt.Errorf("%w: plain: peer metadata: %v", ErrProtocol, err)
	}
	raw, err := c.Meta.MarshalZMTP()
	if err != nil {
		return fmt.Errorf("plain: metadata: %w", err)
	}
	if err := c.SendCmd(zmq4.CmdReady, raw); err != nil {
		return fmt.Errorf("plain: sending READY: %w", err)
	}
	return nil
}

func (m *plainMechanism) client(c *zmq4.Conn) error {
	u, p := m.auth.User, m.auth.Password
	if len(u) > 255 || len(p) > 255 {
		return fmt.Errorf("%w: plain: user name and password must be at most 255 bytes", ErrAuth)
	}
	hello := make([]byte, 0, 2+len(u)+len(p))
	hello = append(hello, byte(len(u)))
	hello = append(hello, u...)
	hello = append(hello, byte(len(p)))
	hello = append(hello, p...)
	if err := c.SendCmd(zmq4.CmdHello, hello); err != nil {
		return fmt.Errorf("plain: sending HELLO: %w", err)
	}
	cmd, err := c.RecvCmd()
	if err != nil {
		return fmt.Errorf("plain: reading WELCOME: %w", err)
	}
	switch cmd.Name {
	case zmq4.CmdWelcome:
	case zmq4.CmdError:
		m.err = fmt.Errorf("%w: the server refused PLAIN user %q (ERROR %q)", ErrAuth, u, errorReason(cmd.Body))
		return m.err
	default:
		return fmt.Errorf("%w: plain: expected WELCOME, got %q", ErrProtocol, cmd.Name)
	}
	raw, err := c.Meta.MarshalZMTP()
	if err != nil {
		return fmt.Errorf("plain: metadata: %w", err)
	}
	if err := c.SendCmd(zmq4.CmdInitiate, raw); err != nil {
		return fmt.Errorf("plain: sending INITIATE: %w", err)
	}
	cmd, err = c.RecvCmd()
	if err != nil {
		return fmt.Errorf("plain: reading READY: %w", err)
	}
	switch cmd.Name {
	case zmq4.CmdReady:
	case zmq4.CmdError:
		m.err = fmt.Errorf("%w: the server refused PLAIN user %q (ERROR %q)", ErrAuth, u, errorReason(cmd.Body))
		return m.err
	default:
		return fmt.Errorf("%w: plain: expected READY, got %q", ErrProtocol, cmd.Name)
	}
	if err := c.Peer.Meta.UnmarshalZMTP(cmd.Body); err != nil {
		return fmt.Errorf("%w: plain: peer metadata: %v", ErrProtocol, err)
	}
	return nil
}

// parseHello splits a PLAIN HELLO body: user-len user pass-len pass.
func parseHello(b []byte) (user, pass []byte, err error) {
	bad := fmt.Errorf("%w: plain: malformed HELLO", ErrProtocol)
	if len(b) < 1 || int(b[0]) > len(b)-1 {
		return nil, nil, bad
	}
	user, b = b[1:1+int(b[0])], b[1+int(b[0]):]
	if len(b) < 1 || int(b[0]) != len(b)-1 {
		return nil, nil, bad
	}
	return user, b[1:], nil
}

func errorBody(reason string) []byte {
	return append([]byte{byte(len(reason))}, reason...)
}

func errorReason(b []byte) string {
	if len(b) == 0 || int(b[0]) > len(b)-1 {
		return "no reason given"
	}
	return string(b[1 : 1+int(b[0])])
}
