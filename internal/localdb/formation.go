package localdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// A Formation is a pg_auto_failover formation on this machine: a monitor
// and two PostgreSQL nodes, a primary and a synchronous standby, each run
// by its own pg_autoctl keeper. The monitor promotes the standby when the
// primary is lost. It is what the fault tests kill and what an operator
// rehearses with (docs/operations.md shows the same commands by hand).
//
// Fault settings are shorter than pg_auto_failover's defaults, in the same
// order so that a partitioned primary still demotes itself before its
// standby is promoted (network_partition_timeout < primary_demote_timeout).
type Formation struct {
	Dir     string // folder of the monitor's and the nodes' data
	Monitor int    // the monitor's port
	Nodes   []*Node

	mon   *Node
	owner *user.User
	bin   string
	log   io.Writer
	mu    sync.Mutex
}

// Node is one PostgreSQL node of a Formation.
type Node struct {
	Name string
	Port int
	Dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// FaultSettings are the monitor's settings StartFormation applies: a node
// is declared unhealthy after about 2 s without an answer, a lost primary
// is given 8 s to demote itself, a node that cannot reach the monitor nor
// its standby demotes itself after 5 s (the defaults: 20 s, 30 s, 20 s).
var FaultSettings = map[string]string{
	"pgautofailover.health_check_period":               "1000",
	"pgautofailover.health_check_timeout":              "1000",
	"pgautofailover.health_check_max_retries":          "1",
	"pgautofailover.health_check_retry_delay":          "500",
	"pgautofailover.node_considered_unhealthy_timeout": "2000",
	"pgautofailover.primary_demote_timeout":            "8000",
}

// networkPartitionTimeout is the nodes' timeout.network_partition_timeout.
const networkPartitionTimeout = "5"

// AutoctlPackages names the Debian packages of pg_auto_failover for the
// installed PostgreSQL.
func AutoctlPackages() []string {
	v := "15"
	if bin, err := findBinDir(); err == nil {
		v = filepath.Base(filepath.Dir(bin))
	}
	return []string{"pg-auto-failover-cli", "postgresql-" + v + "-auto-failover"}
}

// StartFormation creates and starts a formation in a fresh folder under
// /var/tmp, on free ports, with a database named dbname, and returns when
// the primary and its synchronous standby are both up. Stop removes it.
func StartFormation(ctx context.Context, log io.Writer, dbname string) (_ *Formation, err error) {
	bin, err := findBinDir()
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("pg_autoctl"); err != nil {
		return nil, fmt.Errorf("localdb: pg_autoctl is not installed (Debian: apt-get install -y %s)", strings.Join(AutoctlPackages(), " "))
	}
	owner, err := clusterOwner()
	if err != nil {
		return nil, err
	}
	parent, err := os.MkdirTemp("/var/tmp", "riskmap-formation-")
	if err != nil {
		return nil, err
	}
	if owner != nil {
		if err := exec.CommandContext(ctx, "chown", "-R", owner.Username, parent).Run(); err != nil {
			os.RemoveAll(parent)
			return nil, fmt.Errorf("localdb: chown %s: %w", parent, err)
		}
	}
	ports, err := freePorts(3)
	if err != nil {
		os.RemoveAll(parent)
		return nil, err
	}
	f := &Formation{Dir: parent, Monitor: ports[0], owner: owner, bin: bin, log: log}
	defer func() {
		if err != nil {
			f.Stop(context.WithoutCancel(ctx))
		}
	}()
	monitor := &Node{Name: "monitor", Port: ports[0], Dir: filepath.Join(parent, "monitor")}
	if err := f.autoctl(ctx, "create", "monitor", "--pgdata", monitor.Dir, "--pgport", strconv.Itoa(monitor.Port),
		"--hostname", "127.0.0.1", "--auth", "trust", "--no-ssl"); err != nil {
		return nil, err
	}
	if err := f.start(monitor); err != nil {
		return nil, err
	}
	f.mon = monitor
	mon, err := f.waitConnect(ctx, monitor.URL("pg_auto_failover"))
	if err != nil {
		return nil, err
	}
	defer mon.Close(context.WithoutCancel(ctx))
	for k, v := range FaultSettings {
		if _, err := mon.Exec(ctx, "ALTER SYSTEM SET "+k+" = "+v); err != nil {
			return nil, fmt.Errorf("localdb: monitor setting %s: %w", k, err)
		}
	}
	if _, err := mon.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return nil, err
	}
	for i, port := range ports[1:] {
		n := &Node{Name: fmt.Sprintf("node%d", i+1), Port: port, Dir: filepath.Join(parent, fmt.Sprintf("node%d", i+1))}
		// A standby's base backup starts with a checkpoint spread over
		// checkpoint_completion_target (minutes); ask the primary for
		// immediate ones while it is made.
		stop := make(chan struct{})
		if i > 0 {
			go f.nudgeCheckpoints(ctx, f.Nodes[0], stop)
		}
		err := f.autoctl(ctx, "create", "postgres", "--pgdata", n.Dir, "--pgport", strconv.Itoa(port), "--hostname", "127.0.0.1",
			"--name", n.Name, "--dbname", dbname, "--auth", "trust", "--no-ssl", "--monitor", f.MonitorURL())
		close(stop)
		if err != nil {
			return nil, err
		}
		if err := f.autoctl(ctx, "config", "set", "--pgdata", n.Dir, "timeout.network_partition_timeout", networkPartitionTimeout); err != nil {
			return nil, err
		}
		if err := f.start(n); err != nil {
			return nil, err
		}
		f.Nodes = append(f.Nodes, n)
		if i == 0 {
			if _, err := f.WaitPrimary(ctx, 2*time.Minute); err != nil {
				return nil, err
			}
		}
	}
	if err := f.WaitSynchronous(ctx, 3*time.Minute); err != nil {
		return nil, err
	}
	return f, nil
}

// MonitorURL is the connection string of the monitor's database.
func (f *Formation) MonitorURL() string {
	return fmt.Sprintf("postgres://autoctl_node@127.0.0.1:%d/pg_auto_failover?sslmode=disable", f.Monitor)
}

// URL is the multi-host connection string of the formation's database as
// user, with target_session_attrs (read-write for writes, prefer-standby
// for reads), as riskmap takes it in DATABASE_URL and --read-database-url.
func (f *Formation) URL(dbname, user, targetSessionAttrs string) string {
	hosts := make([]string, len(f.Nodes))
	for i, n := range f.Nodes {
		hosts[i] = fmt.Sprintf("127.0.0.1:%d", n.Port)
	}
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable&connect_timeout=2&target_session_attrs=%s", user, strings.Join(hosts, ","), dbname, targetSessionAttrs)
}

// NodeURL is the connection string of one node's database.
func (n *Node) URL(dbname string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable&connect_timeout=2", n.Port, dbname)
}

// States returns each node's state as the monitor has it:
// "reported/assigned" by node name.
func (f *Formation) States(ctx context.Context) (map[string]string, error) {
	c, err := pgx.Connect(ctx, f.MonitorURL())
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	rows, err := c.Query(ctx, `SELECT nodename, reportedstate::text || '/' || goalstate::text FROM pgautofailover.node`)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for rows.Next() {
		var n, s string
		if err := rows.Scan(&n, &s); err != nil {
			return nil, err
		}
		out[n] = s
	}
	return out, rows.Err()
}

// WaitPrimary waits until one node is the primary, with writes allowed
// (reported and assigned "primary", "wait_primary" or "single"), and
// returns it.
func (f *Formation) WaitPrimary(ctx context.Context, limit time.Duration) (*Node, error) {
	var last map[string]string
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		st, err := f.States(ctx)
		if err == nil {
			last = st
			for _, n := range f.Nodes {
				switch st[n.Name] {
				case "primary/primary", "wait_primary/wait_primary", "single/single":
					return n, nil
				}
			}
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("localdb: no primary after %s (states: %v)", limit, last)
}

// WaitSynchronous waits until the formation has a primary and a secondary
// that takes part in synchronous replication, nudging the primary's
// checkpoints so that a base backup need not wait for a spread one.
func (f *Formation) WaitSynchronous(ctx context.Context, limit time.Duration) error {
	var last map[string]string
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		st, err := f.States(ctx)
		if err == nil {
			last = st
			var primaries, secondaries int
			var primary *Node
			for _, n := range f.Nodes {
				switch st[n.Name] {
				case "primary/primary":
					primaries++
					primary = n
				case "secondary/secondary":
					secondaries++
				}
			}
			if primaries == 1 && secondaries == len(f.Nodes)-1 {
				return nil
			}
			for _, n := range f.Nodes {
				if strings.HasPrefix(st[n.Name], "wait_primary") || strings.HasPrefix(st[n.Name], "single") {
					primary = n
				}
			}
			if primary != nil {
				checkpoint(ctx, primary)
			}
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
	return fmt.Errorf("localdb: no synchronous standby after %s (states: %v)", limit, last)
}

// nudgeCheckpoints asks n for an immediate checkpoint every second until
// stop is closed.
func (f *Formation) nudgeCheckpoints(ctx context.Context, n *Node, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
			checkpoint(ctx, n)
		}
	}
}

// checkpoint asks n for an immediate checkpoint (pg_basebackup starts with
// a spread one, which an immediate one ends).
func checkpoint(ctx context.Context, n *Node) {
	if c, err := pgx.Connect(ctx, n.URL("postgres")); err == nil {
		c.Exec(ctx, "CHECKPOINT")
		c.Close(ctx)
	}
}

// Kill loses a node as a crashed machine would: SIGKILL to its keeper and
// every process it started, and to its postmaster.
func (f *Formation) Kill(n *Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var errs []error
	if pid, err := postmasterPID(n.Dir); err == nil {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill postmaster %d: %w", pid, err))
		}
	}
	if n.cmd != nil && n.cmd.Process != nil {
		if err := syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("kill keeper %d: %w", n.cmd.Process.Pid, err))
		}
		<-n.done
		n.cmd = nil
	}
	// The postmaster's children exit when it is gone; wait for the port.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", n.Port), 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	return errors.Join(errs...)
}

// Restart runs a lost node's keeper again: pg_auto_failover rejoins it as
// the standby of the new primary (pg_rewind).
func (f *Formation) Restart(n *Node) error { return f.start(n) }

// Stop kills every process of the formation and removes its folder.
func (f *Formation) Stop(ctx context.Context) {
	for _, n := range append(f.Nodes, f.mon) {
		if n != nil {
			f.Kill(n)
		}
	}
	killStragglers(f.Dir)
	os.RemoveAll(f.Dir)
}

// killStragglers kills what is left running in a folder under dir: a
// PostgreSQL process runs in its data folder, and a SIGKILLed postmaster
// can leave a background worker behind (the monitor's health check
// outlived its test by 50 minutes).
func killStragglers(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cwd, err := os.Readlink(filepath.Join(p, "cwd"))
		if err != nil || (cwd != dir && !strings.HasPrefix(cwd, dir+string(filepath.Separator))) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(p)); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// start runs a node's keeper (pg_autoctl run) in its own process group,
// as the cluster's owner when we are root, logging to its folder.
func (f *Formation) start(n *Node) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	logf, err := os.OpenFile(n.Dir+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	args := []string{"run", "--pgdata", n.Dir}
	var cmd *exec.Cmd
	if f.owner != nil {
		cmd = exec.Command("runuser", append([]string{"-u", f.owner.Username, "--", "env", "PATH=" + f.bin + ":" + os.Getenv("PATH"), "pg_autoctl"}, args...)...)
	} else {
		cmd = exec.Command("pg_autoctl", args...)
		cmd.Env = append(os.Environ(), "PATH="+f.bin+":"+os.Getenv("PATH"))
	}
	cmd.Dir = os.TempDir()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("localdb: pg_autoctl run %s: %w", n.Name, err)
	}
	n.cmd, n.done = cmd, make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		logf.Close()
		close(done)
	}(n.done)
	return nil
}

// autoctl runs one pg_autoctl command to its end.
func (f *Formation) autoctl(ctx context.Context, args ...string) error {
	c := Cluster{Dir: f.Dir}
	full := append([]string{"PATH=" + f.bin + ":" + os.Getenv("PATH"), "pg_autoctl"}, args...)
	out, err := c.output(ctx, f.owner, "env", full...)
	if err != nil {
		return fmt.Errorf("localdb: pg_autoctl %s: %w", strings.Join(args[:2], " "), err)
	}
	if f.log != nil && out != "" {
		fmt.Fprint(f.log, out)
	}
	return nil
}

// waitConnect connects to url, retrying for up to a minute while the
// server starts.
func (f *Formation) waitConnect(ctx context.Context, url string) (*pgx.Conn, error) {
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("localdb: %w", err)
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

// freePorts returns n ports that are free on 127.0.0.1 just now.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// postmasterPID reads the postmaster's pid from its data folder.
func postmasterPID(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(line))
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
