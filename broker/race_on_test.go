//go:build race

package broker_test

// raceDetector reports whether the tests run with -race, which slows every
// step down several times: latency bounds mean nothing then.
const raceDetector = true
