// Command rendezvous is what torch.distributed's TCP store does at start,
// for the gang tests: every rank connects to MASTER_ADDR:MASTER_PORT,
// where rank 0 listens, and says who it is; rank 0 checks that exactly
// ranks 1..WORLD_SIZE-1 came, each once, and answers each "ok". Ranks are
// NODE_RANK (one process per node) or RANK (one per GPU). It prints one
// line per rank and exits 0 only when the rendezvous succeeded.
package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Println("rendezvous failed:", err)
		os.Exit(1)
	}
}

func atoi(name string) (int, error) {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %v", name, os.Getenv(name), err)
	}
	return n, nil
}

func run() error {
	world, err := atoi("WORLD_SIZE")
	if err != nil {
		return err
	}
	rank, err := atoi("RANK")
	if err != nil {
		return err
	}
	node, err := atoi("NODE_RANK")
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(os.Getenv("MASTER_ADDR"), os.Getenv("MASTER_PORT"))
	if rank == 0 {
		return serve(addr, world)
	}
	var c net.Conn
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err = net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("rank %d: connect %s: %v", rank, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer c.Close()
	fmt.Fprintf(c, "%d %d %d\n", rank, world, node)
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || strings.TrimSpace(reply) != "ok" {
		return fmt.Errorf("rank %d: master answered %q (%v)", rank, reply, err)
	}
	fmt.Printf("rank %d of %d (node %d, local rank %s, gpus %q): joined %s\n", rank, world, node, os.Getenv("LOCAL_RANK"), os.Getenv("CUDA_VISIBLE_DEVICES"), addr)
	return nil
}

func serve(addr string, world int) error {
	_, port, _ := net.SplitHostPort(addr)
	l, err := net.Listen("tcp", ":"+port)
	if err != nil {
		return fmt.Errorf("rank 0: listen on %s: %v", port, err)
	}
	defer l.Close()
	seen := map[int]bool{}
	var conns []net.Conn
	l.(*net.TCPListener).SetDeadline(time.Now().Add(90 * time.Second))
	for len(seen) < world-1 {
		c, err := l.Accept()
		if err != nil {
			return fmt.Errorf("rank 0: %d of %d ranks joined: %v", len(seen), world-1, err)
		}
		var r, w, n int
		if _, err := fmt.Fscanf(bufio.NewReader(c), "%d %d %d\n", &r, &w, &n); err != nil {
			return fmt.Errorf("rank 0: bad hello: %v", err)
		}
		if w != world || r <= 0 || r >= world || seen[r] {
			return fmt.Errorf("rank 0: rank %d says world %d (mine %d), seen before %v", r, w, world, seen[r])
		}
		seen[r] = true
		conns = append(conns, c)
	}
	for _, c := range conns {
		fmt.Fprintln(c, "ok")
		c.Close()
	}
	hosts, _ := os.ReadFile(os.Getenv("LSB_DJOB_HOSTFILE"))
	fmt.Printf("rank 0 of %d (node 0, gpus %q): all %d ranks joined on %s; hostfile %q\n", world, os.Getenv("CUDA_VISIBLE_DEVICES"), world, addr, string(hosts))
	return nil
}
