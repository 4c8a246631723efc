package config

// Compute configures `dsys compute`.
type Compute struct {
	Workers int `mapstructure:"workers" auto:"the number of CPUs" doc:"chunks reduced in parallel"`
}
