// Package config loads dsys's one configuration: built-in defaults, then a
// config file, then DSYS_* environment variables, then command-line flags,
// each beating the one before. It is the only place that reads the
// environment or a config file; the library packages receive typed values.
package config

// Config is the whole configuration, one section per subsystem. Every leaf
// field is a key (section.field, as in the mapstructure tags), settable in the
// file, as DSYS_SECTION_FIELD in the environment, and often by a flag.
type Config struct {
	Output  string  `mapstructure:"output" doc:"format of results on stdout: text, or json (JSON Lines for streams; the final error as JSON on stderr)"`
	Quiet   bool    `mapstructure:"quiet" doc:"only errors on stderr: no progress bars, status or informational logs"`
	Log     Log     `mapstructure:"log"`
	Zmq     Zmq     `mapstructure:"zmq"`
	Queue   Queue   `mapstructure:"queue"`
	Compute Compute `mapstructure:"compute"`
}

// Log configures the diagnostic log written to stderr.
type Log struct {
	Level string `mapstructure:"level" doc:"least severe log level written to stderr: debug, info, warn or error"`
}
