//go:build !amd64 && !arm64

package env

import (
	"bytes"
	"runtime"
	"strconv"
)

// gkey identifies the calling goroutine (real_gkey.go); elsewhere it is
// the goroutine id, slower but portable.
func gkey() uint64 { return goid() }

// goid returns the current goroutine's id, parsed from the header line
// "goroutine 123 [running]:" of runtime.Stack.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		b = b[:i]
	}
	id, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		panic("env: cannot parse goroutine id: " + err.Error())
	}
	return id
}
