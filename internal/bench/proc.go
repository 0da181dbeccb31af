package bench

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which Linux
// fixes at 100 for user space whatever the kernel's own tick rate.
const userHZ = 100

// procStat is what /proc/<pid>/stat says of a process's use of the machine.
type procStat struct {
	user, system time.Duration // CPU time, all threads; 10 ms resolution
	minorFaults  int64         // page faults served without I/O: mostly fresh memory
}

func (p procStat) cpu() time.Duration { return p.user + p.system }

// processStat reads /proc/<pid>/stat.
func processStat(pid int) (procStat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; the fields
	// after the last ')' are plain, starting with field 3. minflt is field 10, utime
	// and stime fields 14 and 15.
	end := bytes.LastIndexByte(raw, ')')
	if end < 0 {
		return procStat{}, errors.New("unreadable /proc stat")
	}
	fields := strings.Fields(string(raw[end+1:]))
	if len(fields) < 13 {
		return procStat{}, errors.New("unreadable /proc stat")
	}
	minflt, err1 := strconv.ParseInt(fields[7], 10, 64)
	utime, err2 := strconv.ParseInt(fields[11], 10, 64)
	stime, err3 := strconv.ParseInt(fields[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, err
	}
	return procStat{
		user:        time.Duration(utime) * time.Second / userHZ,
		system:      time.Duration(stime) * time.Second / userHZ,
		minorFaults: minflt,
	}, nil
}

// peakRSS is process pid's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, err
		}
		return kib << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// selfCPU is the CPU time this process has used: the load generator's own cost,
// which shares the machine with the engine.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadAverage is the 1-minute load average, or -1 if unknown.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return -1
	}
	return v
}

// cpuModel is the processor's name from /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

// memTotal is the machine's memory in bytes, 0 if unknown.
func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kib << 10
		}
	}
	return 0
}

// machineTimes is the CPU time all processes on the machine have used since boot
// (everything in the "cpu" line of /proc/stat but idle, iowait and steal), and the
// time the hypervisor of a virtual machine gave to others (steal). Over a run they
// tell how much of the machine other processes and other guests took.
func machineTimes() (busy, steal time.Duration, err error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "cpu ")
		if !ok {
			continue
		}
		var busyTicks, stealTicks int64
		// user nice system idle iowait irq softirq steal guest guest_nice; guest
		// times are already counted in user time.
		for i, field := range strings.Fields(rest) {
			if i >= 8 {
				break
			}
			v, err := strconv.ParseInt(field, 10, 64)
			if err != nil {
				return 0, 0, err
			}
			switch i {
			case 3, 4: // idle, iowait
			case 7:
				stealTicks = v
			default:
				busyTicks += v
			}
		}
		return time.Duration(busyTicks) * time.Second / userHZ, time.Duration(stealTicks) * time.Second / userHZ, nil
	}
	return 0, 0, errors.New("no cpu line in /proc/stat")
}
