package world

import "math/bits"

// Rand is the simulator's deterministic random source: xoshiro256** seeded
// through splitmix64. It is written out here rather than taken from
// math/rand/v2 so that its output never changes with the Go release: a seed
// must mean the same run in every build that has the same code.
type Rand struct {
	s [4]uint64
}

// NewRand returns a source seeded from seed. Distinct streams for distinct
// purposes (scheduling, disk crash, workload) come from Fork.
func NewRand(seed uint64) *Rand {
	r := &Rand{}
	x := seed
	for i := range r.s {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		r.s[i] = z ^ (z >> 31)
	}
	return r
}

func rotl(x uint64, k uint) uint64 { return (x << k) | (x >> (64 - k)) }

// Uint64 returns the next 64 random bits.
func (r *Rand) Uint64() uint64 {
	s := &r.s
	result := rotl(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl(s[3], 45)
	return result
}

// Intn returns a value in [0, n). It panics if n <= 0: that is a caller bug.
func (r *Rand) Intn(n int) int {
	if n <= 0 {
		panic("simtest: Rand.Intn with n <= 0")
	}
	// Lemire's multiply-shift; the tiny bias for huge n is irrelevant here
	// and keeping one draw per call keeps streams easy to reason about.
	hi, _ := mul64(r.Uint64(), uint64(n))
	return int(hi)
}

// Float64 returns a value in [0, 1).
func (r *Rand) Float64() float64 {
	return float64(r.Uint64()>>11) / (1 << 53)
}

// Chance returns true with probability p.
func (r *Rand) Chance(p float64) bool {
	return r.Float64() < p
}

// Fork derives an independent stream, so that drawing more numbers for one
// purpose (say, the workload) does not shift another (say, scheduling).
func (r *Rand) Fork(label uint64) *Rand {
	return NewRand(r.Uint64() ^ (label * 0x9e3779b97f4a7c15))
}

// mul64 is the 128-bit product of a and b (an intrinsic: one instruction).
func mul64(a, b uint64) (hi, lo uint64) { return bits.Mul64(a, b) }
