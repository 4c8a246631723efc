package msg

import (
	"fmt"
	"io"

	"github.com/go-zeromq/zmq4"
)

// nullMechanism is ZMTP's NULL security (zmq4 does not export its own):
// each side sends READY with its metadata.
type nullMechanism struct{}

func (nullMechanism) Type() zmq4.SecurityType                       { return zmq4.NullSecurity }
func (nullMechanism) Encrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }
func (nullMechanism) Decrypt(w io.Writer, data []byte) (int, error) { return w.Write(data) }

func (nullMechanism) Handshake(c *zmq4.Conn, server bool) error {
	raw, err := c.Meta.MarshalZMTP()
	if err != nil {
		return fmt.Errorf("null: metadata: %w", err)
	}
	if err := c.SendCmd(zmq4.CmdReady, raw); err != nil {
		return fmt.Errorf("null: sending READY: %w", err)
	}
	cmd, err := c.RecvCmd()
	if err != nil {
		return fmt.Errorf("null: reading READY: %w", err)
	}
	switch cmd.Name {
	case zmq4.CmdReady:
	case zmq4.CmdError:
		return fmt.Errorf("%w: peer refused the connection (%s)", ErrAuth, errorReason(cmd.Body))
	default:
		return fmt.Errorf("%w: null: expected READY, got %q", ErrProtocol, cmd.Name)
	}
	if err := c.Peer.Meta.UnmarshalZMTP(cmd.Body); err != nil {
		return fmt.Errorf("%w: null: peer metadata: %v", ErrProtocol, err)
	}
	return nil
}
