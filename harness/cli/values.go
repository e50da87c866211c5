package cli

import (
	"flag"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Flag values that check their range as they are parsed, so that a bad
// value is the flag package's one line, "invalid value "0" for flag
// -max-attempts: must be >= 1", and never reaches a command. The run
// flags' table checks its numbers with the same functions.

// Duration prints d as every command line pgdst prints writes it: Go's
// form in ASCII (1.5ms, 500us), which the duration flags read back
// exactly.
func Duration(d time.Duration) string {
	return strings.Replace(d.String(), "µ", "u", 1)
}

// number is a kind of checked flag value: how it parses and prints, and
// its largest value (a range up to it has no upper bound to speak of).
type number[T int | uint64 | time.Duration] struct {
	parse func(string) (T, error)
	show  func(T) string
	top   T
}

var (
	intNumber = number[int]{
		parse: func(s string) (int, error) {
			n, err := strconv.ParseInt(s, 10, strconv.IntSize)
			if err != nil {
				return 0, fmt.Errorf("not an integer")
			}
			return int(n), nil
		},
		show: strconv.Itoa, top: math.MaxInt,
	}
	uintNumber = number[uint64]{
		parse: func(s string) (uint64, error) {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("not an integer >= 0")
			}
			return n, nil
		},
		show: func(n uint64) string { return strconv.FormatUint(n, 10) }, top: math.MaxUint64,
	}
	durationNumber = number[time.Duration]{
		parse: func(s string) (time.Duration, error) {
			d, err := time.ParseDuration(s)
			if err != nil {
				// The flag package quotes the value already.
				return 0, fmt.Errorf("not a duration (such as 1.5ms, 30s, 2m)")
			}
			return d, nil
		},
		show: Duration, top: math.MaxInt64,
	}
)

// in parses s and checks that it lies in [lo, hi].
func (k number[T]) in(s string, lo, hi T) (T, error) {
	v, err := k.parse(s)
	if err != nil {
		return 0, err
	}
	if v < lo || v > hi {
		if hi == k.top {
			return 0, fmt.Errorf("must be >= %s", k.show(lo))
		}
		return 0, fmt.Errorf("must be in [%s, %s]", k.show(lo), k.show(hi))
	}
	return v, nil
}

// rangeValue is a flag.Value of a kind of number in [lo, hi].
type rangeValue[T int | uint64 | time.Duration] struct {
	p      *T
	kind   number[T]
	lo, hi T
}

func (v *rangeValue[T]) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return v.kind.show(*v.p)
}

func (v *rangeValue[T]) Set(s string) error {
	n, err := v.kind.in(s, v.lo, v.hi)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

func defineRange[T int | uint64 | time.Duration](fs *flag.FlagSet, kind number[T], name string, def, lo, hi T, help string) *T {
	p := new(T)
	*p = def
	fs.Var(&rangeValue[T]{p, kind, lo, hi}, name, help)
	return p
}

// Int defines an int flag whose values must lie in [lo, hi] (the default
// may lie outside: 0 for "not given", say).
func Int(fs *flag.FlagSet, name string, def, lo, hi int, help string) *int {
	return defineRange(fs, intNumber, name, def, lo, hi, help)
}

// Uint64 defines a uint64 flag whose values must lie in [lo, hi].
func Uint64(fs *flag.FlagSet, name string, def, lo, hi uint64, help string) *uint64 {
	return defineRange(fs, uintNumber, name, def, lo, hi, help)
}

// DurationFlag defines a duration flag whose values must lie in [lo, hi].
func DurationFlag(fs *flag.FlagSet, name string, def, lo, hi time.Duration, help string) *time.Duration {
	return defineRange(fs, durationNumber, name, def, lo, hi, help)
}
