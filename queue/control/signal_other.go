//go:build !unix

package control

// signalByName knows the signals Go has everywhere; 0 for others.
func signalByName(name string) int {
	switch name {
	case "SIGTERM":
		return 15
	case "SIGKILL":
		return 9
	case "SIGINT":
		return 2
	}
	return 0
}
