package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// memory is the resident memory of a process, read from /proc/PID/status.
type memory struct {
	// RSSKiB is VmRSS, the resident set size now.
	RSSKiB int64 `json:"rss_kib"`
	// PeakKiB is VmHWM, the largest resident set size since the process
	// started.
	PeakKiB int64 `json:"peak_kib"`
}

// userHZ is the unit of the CPU times in /proc/PID/stat: the kernel reports
// them in USER_HZ ticks, which is 100 per second on Linux.
const userHZ = 100

// readCPUSeconds reads the user plus system CPU time that process pid has
// used so far.
func readCPUSeconds(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	s, err := parseStat(string(data))
	if err != nil {
		return 0, fmt.Errorf("read CPU time of process %d: %w", pid, err)
	}
	return s, nil
}

// parseStat returns utime + stime in seconds from the text of
// /proc/PID/stat. The command name in field 2 is in parentheses and may hold
// spaces, so the fields are counted from the last ')'.
func parseStat(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	fields := strings.Fields(stat[i+1:]) // fields[0] is field 3, state
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] { // fields 14 (utime) and 15 (stime)
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse CPU ticks %q: %w", f, err)
		}
		ticks += n
	}
	return float64(ticks) / userHZ, nil
}

// readMemory reads VmRSS and VmHWM of the process pid.
func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	defer f.Close()
	m, err := parseStatus(f)
	if err != nil {
		return memory{}, fmt.Errorf("read memory of process %d: %w", pid, err)
	}
	return m, nil
}

// parseStatus reads VmRSS and VmHWM from the text of /proc/PID/status.
func parseStatus(r io.Reader) (memory, error) {
	var m memory
	var haveRSS bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch key {
		case "VmRSS":
			dst, haveRSS = &m.RSSKiB, true
		case "VmHWM":
			dst = &m.PeakKiB
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("parse %s %q: %w", key, val, err)
		}
		*dst = n
	}
	if err := sc.Err(); err != nil {
		return memory{}, err
	}
	if !haveRSS {
		return memory{}, fmt.Errorf("no VmRSS line")
	}
	return m, nil
}

// processWatch holds the readings of a server process taken before a run.
// Its zero value (no --pid) reads nothing.
type processWatch struct {
	pid       int
	before    memory
	cpuBefore float64
	// cpuMeasured is the CPU time at the start of the measured phase
	// (markMeasured); negative until then.
	cpuMeasured float64
}

// watchProcess takes the before readings of process pid; pid 0 watches
// nothing.
func watchProcess(pid int) (processWatch, error) {
	if pid == 0 {
		return processWatch{}, nil
	}
	before, err := readMemory(pid)
	if err != nil {
		return processWatch{}, err
	}
	cpu, err := readCPUSeconds(pid)
	if err != nil {
		return processWatch{}, err
	}
	return processWatch{pid: pid, before: before, cpuBefore: cpu, cpuMeasured: -1}, nil
}

// markMeasured takes the CPU reading at the start of the measured phase.
// Failed readings are counted in errs.
func (w *processWatch) markMeasured(errs *errorLog) {
	if w.pid == 0 {
		return
	}
	cpu, err := readCPUSeconds(w.pid)
	if err != nil {
		errs.add("server process", err)
		return
	}
	w.cpuMeasured = cpu
}

// finish takes the after readings and returns the process's report, nil
// when nothing is watched. Failed readings are counted in errs.
func (w processWatch) finish(errs *errorLog) *serverReport {
	if w.pid == 0 {
		return nil
	}
	sv := &serverReport{PID: w.pid, Before: w.before}
	if after, err := readMemory(w.pid); err != nil {
		errs.add("server process", err)
	} else {
		sv.After = after
	}
	if cpu, err := readCPUSeconds(w.pid); err != nil {
		errs.add("server process", err)
	} else {
		sv.CPUSeconds = math.Round((cpu-w.cpuBefore)*100) / 100
		if w.cpuMeasured >= 0 {
			sv.MeasuredCPUSeconds = math.Round((cpu-w.cpuMeasured)*100) / 100
		}
	}
	return sv
}
