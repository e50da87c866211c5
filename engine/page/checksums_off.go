package page

import "fmt"

// Data checksums off (initdb without --data-checksums, PostgreSQL 15's
// default): the cluster's pages are written with pd_checksum left at 0
// (PageSetChecksumInplace and PageSetChecksumCopy return at once when
// DataChecksumsEnabled() is false) and a page read back is not checked
// against it. PageIsVerifiedExtended still checks the header and accepts
// an all-zero page, so a page whose header a torn or misdirected write
// broke is still caught; a page whose bytes changed only below a sane
// header is not, which is why PostgreSQL promises nothing for a torn page
// with both data checksums and full_page_writes off.

// VerifyNoChecksum checks a page just read from disk as block blkno in a
// cluster without data checksums (PageIsVerifiedExtended with
// DataChecksumsEnabled() false): an all-zero page is valid, any other
// page must have a sane header and line pointers (CheckPage), and
// pd_checksum is not looked at. The error wraps ErrCorrupt; it never
// wraps ErrChecksum. It never panics, whatever p holds.
func VerifyNoChecksum(p []byte, blkno uint32) error {
	if done, err := verifySizeAndNew(p, blkno); done {
		return err
	}
	if err := CheckPage(p); err != nil {
		return fmt.Errorf("page verification failed in block %d: %w", blkno, err)
	}
	return nil
}
