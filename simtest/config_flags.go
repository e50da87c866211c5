package simtest

// The bounds of Config.RowBytes, for the command line's --row-bytes
// (harness/cli), which checks a value before it reaches Validate.
const (
	RowBytesMin = rowBytesMin
	RowBytesMax = rowBytesMax
)
