package cmd

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/dsys-dev/dsys/msg"
)

func newZmqKeygenCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "keygen",
		Short: "Print a new CURVE key pair (Z85)",
		Long: `Print a new CURVE key pair in Z85, libzmq's text form (zmq_curve_keypair):

  public: <40 characters>   give it to clients (--curve-server) or servers (--curve-allow)
  secret: <40 characters>   keep it: --curve-secret, or zmq.curve.secret in a config file

-o json prints {"public": "...", "secret": "..."}. Z85 uses characters YAML treats specially
(: # & * !), so quote keys in a config file.`,
		Example: `  dsys zmq keygen
  dsys zmq keygen -o json | jq -r .public`,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{annotNoConfig: "true"},
		RunE: func(c *cobra.Command, _ []string) error {
			pub, sec, err := msg.GenerateKeyPair()
			if err != nil {
				return err
			}
			if app.JSON() {
				return app.PrintJSON(jsonKeyPair{Public: pub.String(), Secret: sec.Z85()})
			}
			_, err = fmt.Fprintf(app.IO.Out, "public: %s\nsecret: %s\n", pub, sec.Z85())
			return err
		},
	}
}
