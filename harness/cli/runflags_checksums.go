package cli

import "github.com/pgdst/pgdst/simtest"

// dataChecksumsFlag is --data-checksums on|off (simtest/data_checksums.go).
func dataChecksumsFlag() RunFlag {
	return RunFlag{
		Name: "data-checksums", JSON: []string{"data_checksums"},
		Help:  "initdb's --data-checksums: on, or off (pages carry no checksum and hint bits are never WAL-logged; full_page_writes is then kept on, and off with --full-page-writes off is refused; default: drawn from the seed, off on half the seeds with full_page_writes on; with --no-swarm, on)",
		Check: func(v string) error { return oneOf(v, simtest.DataChecksumsValues) },
		Apply: func(c *simtest.Config, vals []string) { c.DataChecksums = last(vals) },
		Words: func(c simtest.Config) []string {
			return wordsIf(c.DataChecksums != "", "--data-checksums", c.DataChecksums)
		},
		Shrink: func(s Shrinker) {
			// Only an explicit off: "" is the seed's draw.
			if c := s.Config(); c.DataChecksums == simtest.DataChecksumsOff {
				c.DataChecksums = simtest.DataChecksumsOn
				s.Try(c)
			}
		},
	}
}
