//go:build !nosql

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServeBadPasswordFile: a bad --password-file line is one line naming
// the line, exit 1, before the data directory is touched.
func TestServeBadPasswordFile(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	require.NoError(t, os.WriteFile(pw, []byte("alice:secret\nbob\n"), 0o600))
	data := filepath.Join(dir, "data")
	require.NoError(t, os.Mkdir(data, 0o700))
	code, out, errOut := runCLI("serve", "--data", data, "--listen", "127.0.0.1:0", "-q", "--password-file", pw)
	require.Equal(t, 1, code, "stdout %q stderr %q", out, errOut)
	require.Equal(t, 1, strings.Count(errOut, "\n"), errOut)
	require.Contains(t, errOut, pw+" line 2: want user:password")
	names, err := os.ReadDir(data)
	require.NoError(t, err)
	require.Empty(t, names, "initdb ran despite the bad password file")
	code, _, errOut = runCLI("serve", "--data", data, "--listen", "127.0.0.1:0", "-q", "--password-file", filepath.Join(dir, "missing"))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "--password-file")
}
