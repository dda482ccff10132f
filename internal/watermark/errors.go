package watermark

// resourceError is the type of this package's sentinels. Its
// ResourceExhausted method lets transport/errors.go map the errors to
// RESOURCE_EXHAUSTED without importing this package (the layering test
// keeps transport's imports to the packages below it).
type resourceError string

func (e resourceError) Error() string { return string(e) }

// ResourceExhausted reports that the error means "the node is short of a
// resource; try again once it has drained".
func (resourceError) ResourceExhausted() bool { return true }

// ErrMemoryHigh is wrapped by Check's error while the Go heap is above the
// memory high watermark.
var ErrMemoryHigh error = resourceError("node memory above high watermark")

// ErrDiskLow is wrapped by Check's error while the data directory's file
// system has less free space than the disk free low watermark.
var ErrDiskLow error = resourceError("disk free space below low watermark")
