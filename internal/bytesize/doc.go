// Package bytesize parses and prints the byte sizes of Warren's options —
// every size flag of warren-node and the warren CLI, and the same options
// in a config file or the environment — with one parser,
// github.com/dustin/go-humanize's ParseBytes, so "4MiB" means the same
// wherever a size is given.
//
// What the parser accepts (go-humanize's rules, checked by this package's
// tests): a number of bytes ("4194304"), or a number and a unit, any case,
// with or without a space ("512MiB", "512 mib", "1.5GiB"). Units with an i
// are binary (IEC): Ki or KiB = 1024, Mi/MiB = 1024², Gi/GiB, Ti/TiB,
// Pi/PiB, Ei/EiB. Units without one are decimal (SI): k, K, kB or KB =
// 1000, M/MB = 1000², G/GB, T/TB, P/PB, E/EB; B is bytes. So "2G" is
// 2,000,000,000 bytes and "2GiB" 2,147,483,648: the hand-written parser
// this package replaced read K, M, G and T as binary but KB, MB, GB and TB
// as decimal, and now every unit without an i is decimal, as in SI and as
// go-humanize, Kubernetes' quantities (with Ki, Mi) and systemd do.
package bytesize
