package campaign

import (
	"math/bits"
	"strconv"
	"strings"

	"github.com/pgdst/pgdst/engine/env"
	"github.com/pgdst/pgdst/simtest"
)

// A guided campaign's coverage features. The engine's vocabulary alone
// (sometimes conditions, points by role, crash points, fault kinds, hit
// buckets) is exhausted by a few thousand runs, after which no run is new
// and the corpus stops learning. As AFL's edge coverage counts pairs of
// blocks rather than blocks, the features here are also pairs and
// bucketed counts of what one run did, all read from the run's Result:
//
//   - two sometimes conditions reached in one run (a B-tree split in a run
//     that also restored a full-page image in redo);
//   - a sometimes condition and an engine setting the run resolved to (an
//     RR snapshot kept a dead tuple while full_page_writes was off): the
//     same state reached under another setting runs other code around it;
//   - a point crashed at, or a fault that fired, with each condition the
//     run reached (which recovery path a crash there leads to);
//   - outcomes bucketed as AFL buckets hit counts, the "how close did it
//     come" of FuzzFactory's waypoints and Antithesis' numeric sometimes:
//     commits in flight at the crash, asynchronous commits lost within the
//     bound, records replayed and WAL bytes spanned by recovery, crash
//     restarts, crashes during recovery, B-tree height, and the online
//     checkers' judged and skipped events by kind.
//
// A feature is a 64-bit key: its kind in the top byte, a hash of what it
// names below. Nothing here names a mutant or a planted bug: every feature
// is general engine coverage.

// The kinds of feature. Their names (featureKinds) are the report's.
const (
	fkSometimes = iota
	fkPointRole
	fkCrashedAt
	fkFaultFired
	fkHitBucket
	fkSometimesPair
	fkSometimesSetting
	fkCrashSometimes
	fkFaultSometimes
	fkOutcome
	fkOnline
	fkKinds
)

var featureKinds = [fkKinds]string{
	"sometimes", "point-role", "crashed-at", "fault-fired", "hit-bucket",
	"sometimes-pair", "sometimes-setting", "crash-sometimes", "fault-sometimes", "outcome", "online",
}

// featureWeights weigh a feature's rarity by its kind: a state the engine
// declared worth reaching counts most, a hit count's bucket least (a
// longer run reaches higher buckets without reaching anything new). The
// pairs are many, so each weighs less than either of its parts.
var featureWeights = [fkKinds]float64{
	fkSometimes: 4, fkPointRole: 2, fkCrashedAt: 2, fkFaultFired: 1, fkHitBucket: 0.5,
	fkSometimesPair: 0.5, fkSometimesSetting: 0.25, fkCrashSometimes: 1, fkFaultSometimes: 0.5,
	fkOutcome: 0.5, fkOnline: 0.25,
}

// featureKindOf is a key's kind.
func featureKindOf(k uint64) int { return int(k >> 56) }

// featureKey makes the key of a feature of kind whose parts hash to a and
// b (0 for a feature of one part).
func featureKey(kind int, a, b uint64) uint64 {
	h := mix64(a ^ bits.RotateLeft64(mix64(b+uint64(kind)), 17))
	return uint64(kind)<<56 | h>>8
}

// mix64 is splitmix64's finalizer: every input bit moves every output bit.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hashString is FNV-1a, 64 bits.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// conditionHashes are env.Conditions' names hashed, in table order.
var conditionHashes = func() []uint64 {
	hs := make([]uint64, len(env.Conditions))
	for i, c := range env.Conditions {
		hs[i] = hashString(c.Name)
	}
	return hs
}()

// featureSettingsMax bounds the settings a run's resolved config yields.
const featureSettingsMax = 64

// runSettings hashes the resolved config's settings that take one of a
// few values: every key=value whose value is a word (an enum or a bool)
// or an integer up to 16 (a client count, a vacuum period, a pool of 16
// buffers). Durations, sizes and probabilities drawn from a continuum are
// left out: their pairs would be new in every run and teach nothing.
func runSettings(config string, out []uint64) []uint64 {
	for _, tok := range strings.Fields(config) {
		if len(out) == featureSettingsMax {
			break
		}
		k, v, ok := strings.Cut(tok, "=")
		if !ok || k == "" || v == "" {
			continue
		}
		if c := v[0]; c >= '0' && c <= '9' || c == '-' || c == '.' {
			n, err := strconv.Atoi(v)
			if err != nil || n > 16 {
				continue
			}
		}
		out = append(out, hashString(tok))
	}
	return out
}

// countBucket is hitBucket with 0 as a bucket of its own.
func countBucket(n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return uint64(hitBucket(n))
}

// runFeatures lists the features a run reached, in buf's storage: in no
// particular order, some more than once (fold sorts out both).
func runFeatures(r *simtest.Result, buf []uint64) []uint64 {
	out := buf[:0]
	var conds [128]int
	nc := 0
	for i := range env.Conditions {
		if r.Sometimes.Has(env.Conditions[i].Name) && nc < len(conds) {
			conds[nc] = i
			nc++
		}
	}
	for _, i := range conds[:nc] {
		out = append(out, featureKey(fkSometimes, conditionHashes[i], 0))
	}
	// Pairs of conditions, and each condition with each setting.
	for x := 0; x < nc; x++ {
		for y := x + 1; y < nc; y++ {
			out = append(out, featureKey(fkSometimesPair, conditionHashes[conds[x]], conditionHashes[conds[y]]))
		}
	}
	var setBuf [featureSettingsMax]uint64
	settings := runSettings(r.Config, setBuf[:0])
	for _, s := range settings {
		for _, i := range conds[:nc] {
			out = append(out, featureKey(fkSometimesSetting, conditionHashes[i], s))
		}
	}
	for p, h := range r.PointHits {
		if h > 0 {
			out = append(out, featureKey(fkHitBucket, hashString(p), uint64(hitBucket(h))))
		}
	}
	for p, rs := range r.PointRoles {
		ph := hashString(p)
		for role := env.Role(0); role < env.NumRoles; role++ {
			if rs.Has(role) {
				out = append(out, featureKey(fkPointRole, ph, uint64(role)+1))
			}
		}
	}
	for _, p := range r.CrashedAt {
		ph := hashString(p)
		out = append(out, featureKey(fkCrashedAt, ph, 0))
		for _, i := range conds[:nc] {
			out = append(out, featureKey(fkCrashSometimes, ph, conditionHashes[i]))
		}
	}
	for _, a := range r.Applied {
		ah := hashString(a.Action.String())
		out = append(out, featureKey(fkFaultFired, ah, 0))
		for _, i := range conds[:nc] {
			out = append(out, featureKey(fkFaultSometimes, ah, conditionHashes[i]))
		}
	}
	return appendOutcomes(r, out)
}

// appendOutcomes adds a run's outcomes, each a name and a bucket.
func appendOutcomes(r *simtest.Result, out []uint64) []uint64 {
	outcome := func(name string, bucket uint64) {
		out = append(out, featureKey(fkOutcome, hashString(name), bucket))
	}
	outcome("crash-kind:"+r.CrashKind, 0)
	outcome("crash-mode:"+r.CrashMode, 0)
	outcome("recovery-end:"+r.RecoveryDB.EndReason, 0)
	// Commits in flight at the crash and acknowledged ones: a durability
	// bug needs the crash to land among commits.
	outcome("acked", countBucket(uint64(max(r.Acked, 0))))
	outcome("unknown", countBucket(uint64(max(r.Unknown, 0))))
	// Asynchronous commits lost within the bound: the closer to it, the
	// closer to a WAL writer that lost more than it may.
	outcome("async-lost", countBucket(uint64(max(r.AsyncLost, 0))))
	outcome("rows", countBucket(uint64(max(r.Rows, 0))))
	outcome("index-blocks", countBucket(uint64(max(r.IndexBlocksMax, 0))))
	outcome("redo-records", countBucket(uint64(max(r.RecoveryDB.Records, 0))))
	outcome("redo-synced", countBucket(uint64(max(r.RecoveryDB.Synced, 0))))
	if r.RecoveryDB.End > r.RecoveryDB.Redo {
		// The WAL recovery read, in powers of two of bytes.
		outcome("redo-bytes", uint64(bits.Len64(uint64(r.RecoveryDB.End-r.RecoveryDB.Redo))))
	}
	outcome("crash-restarts", countBucket(uint64(len(r.CrashRestarts))))
	outcome("recovery-crashes", countBucket(uint64(len(r.RecoveryCrashes))))
	outcome("faults-applied", countBucket(uint64(max(r.FaultsApplied, 0))))
	outcome("destructive", countBucket(uint64(len(r.Destructive))))
	if r.Detected != "" {
		outcome("detected", 0)
	}
	for kind, c := range r.Online {
		kh := hashString(kind)
		out = append(out, featureKey(fkOnline, kh, countBucket(c.Judged)))
		for reason, n := range c.Skipped {
			out = append(out, featureKey(fkOnline, kh^hashString(reason), countBucket(n)|1<<8))
		}
	}
	return out
}
