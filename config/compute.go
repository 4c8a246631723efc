package config

// Compute configures `dsys compute`.
type Compute struct {
	Workers    int      `mapstructure:"workers" auto:"the number of CPUs" doc:"chunks reduced in parallel"`
	ChunkBytes ByteSize `mapstructure:"chunk_bytes" doc:"chunk size for .npy and raw files when --chunks is not given (memory: workers × this)"`
	BlockBytes ByteSize `mapstructure:"block_bytes" doc:"block size text and CSV input is cut into for parallel parsing"`
}
