package cli

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"golang.org/x/term"

	"github.com/gantry-hpc/gantry/client"
)

// runInteractive connects this terminal (x's stdin and stdout) to
// interactive job ref once it runs, and exits as bsub -I does: with the
// job's exit code once it has ended. raw (-Is) puts a terminal stdin in
// raw mode, so every key reaches the job's own terminal.
func runInteractive(x *lsfRun, cl *client.Client, ref string, raw bool) error {
	fmt.Fprintln(x.out, "<<Waiting for dispatch ...>>")
	rows, cols := 0, 0
	if f, ok := x.out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cols, rows, _ = term.GetSize(int(f.Fd()))
	}
	var conn io.ReadWriteCloser
	for conn == nil {
		c, err := cl.Attach(x.ctx, ref, rows, cols)
		var ae *client.APIError
		switch {
		case err == nil:
			conn = c
		case errors.As(err, &ae) && ae.Status == http.StatusGatewayTimeout:
			continue // not started yet
		case errors.As(err, &ae) && ae.Status == http.StatusGone:
			return finishInteractive(x, cl, ref) // ended before it could attach
		default:
			return err
		}
	}
	defer conn.Close()
	if j, err := cl.JobByRef(x.ctx, ref); err == nil {
		fmt.Fprintf(x.out, "<<Starting on %s>>\n", j.Node)
	}
	if f, ok := x.stdin.(*os.File); ok && raw && term.IsTerminal(int(f.Fd())) {
		if old, err := term.MakeRaw(int(f.Fd())); err == nil {
			defer term.Restore(int(f.Fd()), old)
		}
	}
	go func() {
		// Input that ends (a pipe, a file) ends the job's input: ^D
		// on its terminal.
		if _, err := io.Copy(conn, x.stdin); err == nil {
			conn.Write([]byte{4})
		}
	}()
	io.Copy(x.out, conn)
	return finishInteractive(x, cl, ref)
}

// finishInteractive waits briefly for job ref's final state (the stream
// ends just before it is recorded) and exits with its code.
func finishInteractive(x *lsfRun, cl *client.Client, ref string) error {
	for deadline := time.Now().Add(time.Minute); ; {
		j, err := cl.JobByRef(x.ctx, ref)
		if err != nil {
			return err
		}
		if j.State.Terminal() {
			return jobExit(j)
		}
		if time.Now().After(deadline) {
			return lsfErr("bsub: job <%s> is %s: its terminal closed before it ended (gantry attach %s connects again)", ref, j.State, ref)
		}
		select {
		case <-x.ctx.Done():
			return x.ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
