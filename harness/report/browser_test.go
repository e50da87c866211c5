package report_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/pgdst/pgdst/engine/bugs"
	"github.com/pgdst/pgdst/harness/campaign"
	"github.com/pgdst/pgdst/harness/cli"
	"github.com/pgdst/pgdst/harness/report"
	"github.com/pgdst/pgdst/simtest"
)

// screenshots, when set, is where TestBrowserShowsTheFailure writes its
// screenshots of the pages (`make screenshots` sets it to docs/).
var screenshots = flag.String("screenshots", "", "write the browser test's screenshots (report.png, porcupine.png) to this directory")

// The browser's window: a laptop's, so that "in view" means what a reader
// sees without scrolling.
const winW, winH = 1280, 800

// chromium finds a headless Chromium: $PGDST_CHROMIUM, or Debian's
// chromium package's binary, or another common name on PATH.
func chromium() string {
	if p := os.Getenv("PGDST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// rect is an element's box in the window, as getBoundingClientRect says.
type rect struct {
	Found                    bool
	Left, Top, Right, Bottom float64
}

// inView reports whether r lies inside the window and, when clip is
// given, inside clip (a scrolled container's visible box).
func (r rect) inView(clip *rect) bool {
	ok := r.Found && r.Left >= 0 && r.Top >= 0 && r.Right <= winW && r.Bottom <= winH && r.Right > r.Left
	if clip != nil {
		ok = ok && r.Left >= clip.Left && r.Right <= clip.Right
	}
	return ok
}

// boxJS returns the box of the element a selector names, as JSON.
const boxJS = `function pgdstBox(sel){var e=document.querySelector(sel);if(!e)return {Found:false};var r=e.getBoundingClientRect();return {Found:true,Left:r.left,Top:r.top,Right:r.right,Bottom:r.bottom};}`

// TestBrowserShowsTheFailure loads a failing run's report page and its
// porcupine page in a headless Chromium, as a person opening them would,
// and checks what they see without scrolling: on the report, the
// explanation's mechanism, the crash marker and the lost commit's
// acknowledgment (inside the timeline's visible part, not only inside the
// page); on porcupine's page, the failing operation (the read after
// recovery) outlined in red and the crash. The run is the README's
// failing example (seed 1 with the planted bug ack-before-flush, which
// fails durability and linearizability), and its shrunk form, whose crash
// ends the run.
//
// Without a Chromium the test skips with one line; under CI ($CI set, as
// GitHub Actions and .ci/run set it) it fails instead, since .ci/run
// installs Debian's chromium package.
func TestBrowserShowsTheFailure(t *testing.T) {
	chrome := chromium()
	if chrome == "" {
		if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
			t.Fatal("no Chromium found (chromium, chromium-browser, google-chrome or $PGDST_CHROMIUM) and CI=true: .ci/run installs Debian's chromium package")
		}
		t.Skip("no Chromium on PATH (apt-get install chromium, or set PGDST_CHROMIUM): the browser test did not run")
	}
	set, err := bugs.ParseSet("ack-before-flush")
	require.NoError(t, err)
	dir := t.TempDir()

	full := simtest.DefaultConfig(1)
	full.Bugs = set
	writeArtifacts(t, dir, "seed-1", full)
	shrunk := simtest.DefaultConfig(1)
	// The README's shrink result: --workload append --clients 1 --txns 2
	// --writes 1 --no-swarm --no-faults.
	shrunk.Bugs, shrunk.Workload, shrunk.Clients, shrunk.Txns, shrunk.WritesMax, shrunk.Swarm = set, simtest.WorkloadAppend, 1, 2, 1, false
	shrunk.Faults, shrunk.CrashStep, shrunk.FaultIntensity = cli.EmptyPlan, 0, 0
	writeArtifacts(t, dir, "shrunk", shrunk)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.WindowSize(winW, winH), chromedp.NoSandbox, chromedp.DisableGPU)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()

	type reportView struct {
		Why, Crash, Ack, Scroll rect
		WhyText                 string
		Trace                   struct{ Shown, Hidden int }
	}
	viewReport := func(page string) reportView {
		var v reportView
		require.NoError(t, chromedp.Do(ctx,
			chromedp.EmulateViewport(winW, winH),
			chromedp.Navigate("file://"+page),
			chromedp.WaitReady(chromedp.CSS("#why")),
		), page)
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](boxJS+`JSON.stringify({
			Why: pgdstBox('#why'), Crash: pgdstBox('#crash-1'), Ack: pgdstBox('.chain-mark[data-step="ack"]'), Scroll: pgdstBox('#scroll'),
			WhyText: document.querySelector('#why').innerText,
			Trace: {Shown: [...document.querySelectorAll('pre.trace span')].filter(function(s){return s.offsetParent!==null}).length,
				Hidden: [...document.querySelectorAll('pre.trace span')].filter(function(s){return s.offsetParent===null}).length}})`))
		require.NoError(t, err, page)
		require.NoError(t, json.Unmarshal([]byte(raw), &v))
		return v
	}
	for _, name := range []string{"seed-1", "shrunk"} {
		page := filepath.Join(dir, "report-"+name+".html")
		var out strings.Builder
		require.NoError(t, report.Run(filepath.Join(dir, name+".repro.json"), page, 0, false, report.DefaultEvents, &out, &out), out.String())
		v := viewReport(page)
		require.Contains(t, v.WhyText, "acknowledged before its commit record was durable", name)
		require.True(t, v.Why.inView(nil), "%s: the explanation is in the first view: %+v", name, v.Why)
		require.True(t, v.Crash.inView(&v.Scroll), "%s: the crash marker is in the first view: %+v in %+v", name, v.Crash, v.Scroll)
		require.True(t, v.Ack.inView(&v.Scroll), "%s: the lost commit's acknowledgment is in the first view: %+v in %+v", name, v.Ack, v.Scroll)
		require.Positive(t, v.Trace.Shown, name)
		require.Positive(t, v.Trace.Hidden, "%s: the trace excerpt hides its noise by default", name)
		if *screenshots != "" && name == "seed-1" {
			shoot(t, ctx, filepath.Join(*screenshots, "report.png"))
		}
	}

	// porcupine's page of the full run: the read after recovery is the
	// failing operation.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate("file://"+filepath.Join(dir, "seed-1.porcupine.html")),
		chromedp.WaitReady(chromedp.CSS("#pgdst-failing")),
	))
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](boxJS+`JSON.stringify({
		Failing: pgdstBox('#pgdst-failing'), Crash: pgdstBox('.pgdst-crash'),
		Outlined: document.querySelectorAll('.pgdst-failing').length,
		Text: document.querySelector('#pgdst-failing').parentNode.textContent,
		Covered: (function(){var f=document.querySelector('#pgdst-failing'),b=f.getBoundingClientRect(),n=0;
			document.querySelectorAll('.history-rect,.client-annotation-rect').forEach(function(r){
				if(r===f||!(f.compareDocumentPosition(r)&Node.DOCUMENT_POSITION_FOLLOWING))return;
				var c=r.getBoundingClientRect();if(c.left<b.right&&c.right>b.left&&c.top<b.bottom&&c.bottom>b.top)n++;});return n;})(),
		Rows: [...document.querySelectorAll('#canvas svg > g:first-child > text')].map(function(t){return t.textContent})})`))
	require.NoError(t, err)
	var p struct {
		Failing, Crash rect
		Outlined       int
		Covered        int
		Text           string
		Rows           []string
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &p))
	require.True(t, p.Failing.inView(nil), "porcupine: the failing operation is in the first view: %+v", p.Failing)
	require.True(t, p.Crash.inView(nil), "porcupine: the crash is in the first view: %+v", p.Crash)
	require.Positive(t, p.Outlined)
	require.Contains(t, p.Rows, "after recovery", "the reader after recovery has a named row")
	require.Contains(t, p.Text, "read(k0)", "the failing operation is the read after recovery of key 0, the key the checker names")
	require.Zero(t, p.Covered, "nothing is drawn over the failing operation")
	if *screenshots != "" {
		shoot(t, ctx, filepath.Join(*screenshots, "porcupine.png"))
	}
}

// writeArtifacts runs cfg, which must fail, and writes its artifacts as
// a campaign does.
func writeArtifacts(t *testing.T, dir, name string, cfg simtest.Config) {
	t.Helper()
	res := simtest.Run(cfg)
	require.False(t, res.OK, "%s must fail", name)
	_, err := campaign.WriteArtifacts(dir, name, cfg, res, cli.Command(cfg))
	require.NoError(t, err)
}

// shoot writes the window as it is to path.
func shoot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, png, 0o644))
	t.Logf("wrote %s (%d bytes)", path, len(png))
}
